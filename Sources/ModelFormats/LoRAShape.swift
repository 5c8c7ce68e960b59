// The shape of a LoRA adapter as PEFT's adapter_config.json states it: what a file holds, independent of
// the layers that carry the adapter in memory (NeuralNet's LoRAConfig converts at LanguageModels' boundary).

/// r, lora_alpha, lora_dropout, target_modules and use_rslora of a LoRA adapter.
///
///     Δy = scale · x·Aᵀ·Bᵀ      scale = lora_alpha / r   (lora_alpha / √r with use_rslora)
///
///     let shape = LoRAShape(rank: 16, alpha: 32, targets: ["q_proj", "v_proj"])
///     shape.scale                                                   // 2
public struct LoRAShape: Codable, Sendable, Equatable {
    /// `r`
    public var rank: Int
    /// `lora_alpha`
    public var alpha: Float
    /// `lora_dropout`
    public var dropout: Float
    /// `target_modules`: last components of the module paths adapted (q_proj, v_proj, …).
    public var targets: [String]
    /// `use_rslora`: scale alpha/√r (Kalajdzievski 2023) instead of alpha/r.
    public var rsLoRA: Bool

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0.05, targets: [String] = ["q_proj", "v_proj"], rsLoRA: Bool = false) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets; self.rsLoRA = rsLoRA
    }

    /// The factor on the low-rank product (PEFT's `scaling`).
    public var scale: Float { rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
}
