// AutoRE layer (see Docs/ARCHITECTURE.md).
