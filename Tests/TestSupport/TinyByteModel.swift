// A tiny random Llama with a byte-level vocabulary (256 bytes + end-of-text), so any prompt text runs
// through the real tokenizer, model and generation in milliseconds. No weights from anywhere.
import Foundation
import Tokenization

public enum TinyByteModel {
    public static let vocab = TinyLlama.byteVocabulary, endOfText = TinyLlama.byteEndOfText

    public static func tokenizer() throws -> Tokenizer { TinyLlama.byteTokenizer() }

    /// The directory of config.json + model.safetensors of a 2-layer model, written once per process
    /// (a static let: initialised once even when tests run in parallel).
    public static func checkpoint() throws -> String { try written.get() }
    static let written = Result { try TinyLlama.byteLevel(seed: 5).writeTemporary() }
}
