// DocRE layer (see Docs/ARCHITECTURE.md).
