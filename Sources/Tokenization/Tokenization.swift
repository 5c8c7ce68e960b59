// Tokenization layer (see Docs/ARCHITECTURE.md).
