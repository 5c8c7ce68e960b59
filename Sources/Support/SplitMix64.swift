// SplitMix64, the seeded generator every layer draws from (initialisation, dropout, shuffling, sampling,
// bootstrap resamples). Not a cryptographic generator and not a source of entropy.
import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a seedable generator whose whole state is one UInt64,
/// so it can be saved and restored as a plain integer (`state`).
///
///     var g = SplitMix64(seed: 42)
///     let u = g.nextFloat()                 // uniform in [0, 1)
///     let saved = g.state                   // SplitMix64(seed: saved) continues the same stream
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    @inlinable public init(seed: UInt64) { state = seed }
    /// The step added to `state` before each output.
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    @inlinable public mutating func next() -> UInt64 {
        state &+= Self.gamma
        return Self.mix(state)
    }
    /// The output for a state: the k-th call of `next()` from state s returns `mix(s &+ k &* gamma)`, so a
    /// stretch of the stream can be drawn out of order (in parallel) and `state` advanced past it at once.
    @inlinable public static func mix(_ s: UInt64) -> UInt64 {
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 bits.
    @inlinable public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
    /// Uniform in [0, 1) with 53 bits.
    @inlinable public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Standard normal by Box–Muller (one value per call; simple and deterministic).
    @inlinable public mutating func nextNormal() -> Float {
        let u1 = max(nextDouble(), 1e-300), u2 = nextDouble()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}
