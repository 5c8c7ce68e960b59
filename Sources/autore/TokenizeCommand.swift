// `autore tokenize --model MODEL (--text T | --file F)`: token ids and tokens of a text with a checkpoint's tokenizer.
// Reads the tokenizer from a GGUF file or a tokenizer.json; no model weights are loaded.
import ArgumentParser
import Experiments
import Foundation
import ModelFormats
import RHF
import Tokenization

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids and tokens of a text with a model's tokenizer.",
        discussion: "Special tokens written in the text (e.g. <|im_start|>) are recognised. Use --chat to wrap the text as a user turn of the model's chat template.")

    @Option(help: "A .gguf file, a tokenizer.json, or a directory holding tokenizer.json.")
    var model: String

    @Option(help: "The text to tokenize.")
    var text: String?

    @Option(help: "A UTF-8 file whose whole content is tokenized.")
    var file: String?

    @Flag(help: "Add BOS/EOS as the tokenizer's configuration asks.")
    var addSpecialTokens = false

    @Option(help: "Format the text as a user message with this chat template (chatml, smollm2, mistral, vicuna, or 'model' for the checkpoint's own).")
    var chat: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
    }

    func run() throws {
        var input = text ?? ""
        if let file {
            guard let d = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            input = String(decoding: d, as: UTF8.self)
        }
        let tok = try ModelLocation.tokenizer(at: model)
        if let chat {
            let template = chat == "model" ? tok.chatTemplate : ChatTemplate.named(chat)
            guard let template else { throw ValidationError("no chat template '\(chat)'") }
            input = template.render([ChatMessage(.user, input)], addGenerationPrompt: true)
        }
        let start = Date()
        let ids = tok.encode(input, addSpecialTokens: addSpecialTokens)
        let seconds = Date().timeIntervalSince(start)
        let tokens = tok.tokens(ids)
        if json {
            let obj: [String: Any] = ["ids": ids, "tokens": tokens, "count": ids.count, "text": input, "seconds": seconds]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("\(ids.count) tokens")
            print("ids: \(ids.map(String.init).joined(separator: " "))")
            print("tokens: \(tokens.map { $0.debugDescription }.joined(separator: " "))")
        }
    }
}
