// FineTuning layer (see Docs/ARCHITECTURE.md).
