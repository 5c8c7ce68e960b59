// The shape of a LoRA adapter: what the layers that carry it in memory (NeuralNet's LoRA) are built from and
// what PEFT's adapter_config.json states (ModelFormats' PEFTAdapter), one type for both.

/// r, lora_alpha, lora_dropout, target_modules and use_rslora of a LoRA adapter.
///
///     Δy = scale · x·Aᵀ·Bᵀ      scale = lora_alpha / r   (lora_alpha / √r with use_rslora)
///
///     let lora = LoRAConfig(rank: 16, alpha: 32, targets: ["q_proj", "v_proj"])
///     lora.scale                                                    // 2
public struct LoRAConfig: Codable, Sendable, Equatable {
    /// `r`
    public var rank: Int
    /// `lora_alpha`
    public var alpha: Float
    /// `lora_dropout`
    public var dropout: Float
    /// `target_modules`: last components of the layer names adapted: q_proj, k_proj, v_proj, o_proj,
    /// gate_proj, up_proj, down_proj.
    public var targets: [String]
    /// `use_rslora`: scale alpha/√r (Kalajdzievski 2023) instead of alpha/r.
    public var rsLoRA: Bool

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0.05, targets: [String] = ["q_proj", "v_proj"], rsLoRA: Bool = false) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets; self.rsLoRA = rsLoRA
    }

    /// The factor on the low-rank product (PEFT's `scaling`).
    public var scale: Float { rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
    public static let allProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
}
