// LanguageModels layer (see Docs/ARCHITECTURE.md).
