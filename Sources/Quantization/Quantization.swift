// Quantization layer (see Docs/ARCHITECTURE.md).
