// ModelFormats layer (see Docs/ARCHITECTURE.md).
