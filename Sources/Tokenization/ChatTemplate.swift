// Chat prompt formats (ChatML, Mistral [INST], Vicuna), chosen from a checkpoint's Jinja
// `chat_template` or by name. Not a Jinja interpreter: the known templates are recognised and re-implemented.

import Foundation

public struct ChatMessage: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(_ role: Role, _ content: String) { self.role = role; self.content = content }
}

/// A prompt format.
///
///     let t = ChatTemplate.chatML(defaultSystemPrompt: nil)
///     t.render([ChatMessage(.user, "Hi")], addGenerationPrompt: true)
///     // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message. SmolLM2-Instruct's template inserts a default
    /// system message when the first message is not a system message.
    case chatML(defaultSystemPrompt: String?)
    /// Mistral-Instruct: `<s>[INST] user [/INST]assistant</s>[INST] …`; a system message is prepended to
    /// the first user turn followed by a blank line.
    case mistral
    /// Vicuna v1.1: `system USER: user ASSISTANT: assistant</s>USER: …`.
    case vicuna(systemPrompt: String)

    /// SmolLM2-Instruct's default system message (from its GGUF `tokenizer.chat_template`).
    public static let smolLM2SystemPrompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    /// FastChat's vicuna_v1.1 system message.
    /// Tokens that close a turn in the templates we know (ChatML, Llama-2/Mistral, Llama-3), in that order.
    public static let endOfTurnTokens = ["<|im_end|>", "</s>", "<|eot_id|>"]

    public static let vicunaSystemPrompt = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions."

    /// By name: "chatml", "smollm2" (ChatML with SmolLM2's default system prompt), "mistral", "vicuna".
    public static func named(_ name: String) -> ChatTemplate? {
        switch name.lowercased() {
        case "chatml": .chatML(defaultSystemPrompt: nil)
        case "smollm", "smollm2": .chatML(defaultSystemPrompt: smolLM2SystemPrompt)
        case "mistral", "llama2", "inst": .mistral
        case "vicuna": .vicuna(systemPrompt: vicunaSystemPrompt)
        default: nil
        }
    }

    /// Recognises a Jinja chat template by its markers; nil for unknown formats.
    public static func detect(jinja: String) -> ChatTemplate? {
        if jinja.contains("<|im_start|>") {
            // a literal default system turn: '<|im_start|>system\n…<|im_end|>' inside the template text
            // (the newline is a real one, or a Jinja "\n" escape)
            if let r = jinja.range(of: "<|im_start|>system\n") ?? jinja.range(of: "<|im_start|>system\\n"),
               let e = jinja.range(of: "<|im_end|>", range: r.upperBound..<jinja.endIndex) {
                let prompt = String(jinja[r.upperBound..<e.lowerBound])
                if !prompt.contains("{") && !prompt.contains("'") { return .chatML(defaultSystemPrompt: prompt) }
            }
            return .chatML(defaultSystemPrompt: nil)
        }
        if jinja.contains("[INST]") { return .mistral }
        if jinja.contains("USER:") && jinja.contains("ASSISTANT:") { return .vicuna(systemPrompt: vicunaSystemPrompt) }
        return nil
    }

    /// The prompt text for `messages`; with `addGenerationPrompt` it ends where the assistant's reply begins.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var s = ""
        switch self {
        case .chatML(let defaultSystem):
            if let defaultSystem, messages.first?.role != .system {
                s += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for m in messages { s += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { s += "<|im_start|>assistant\n" }
        case .mistral:
            s = "<s>"
            var system: String? = nil
            for m in messages {
                switch m.role {
                case .system: system = m.content
                case .user:
                    let content = system.map { "\($0)\n\n\(m.content)" } ?? m.content
                    system = nil
                    s += "[INST] \(content) [/INST]"
                case .assistant: s += "\(m.content)</s>"
                }
            }
        case .vicuna(let defaultSystem):
            // FastChat vicuna_v1.1: sep " " after the system prompt and user turns, sep2 "</s>" after assistant turns
            var system = defaultSystem
            var turns = ""
            for m in messages {
                switch m.role {
                case .system: system = m.content
                case .user: turns += "USER: \(m.content) "
                case .assistant: turns += "ASSISTANT: \(m.content)</s>"
                }
            }
            s = system + " " + turns
            if addGenerationPrompt { s += "ASSISTANT:" }
        }
        return s
    }
}

extension Tokenizer {
    /// Ids of `ChatTemplate.endOfTurnTokens` that this vocabulary has, in that order.
    public var endOfTurnTokenIds: [Int] { ChatTemplate.endOfTurnTokens.compactMap(id) }
}
