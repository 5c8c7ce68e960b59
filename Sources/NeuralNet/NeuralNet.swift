// NeuralNet layer (see Docs/ARCHITECTURE.md).
