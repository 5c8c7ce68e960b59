// A trainer's whole state as a Checkpoint (HDF5): adapter weights (or, in full fine-tuning, every weight),
// AdamW moments and step counts, the data cursor and the dropout generators, so a resumed run ends with
// the same weights, bit for bit.
import Autograd
import Foundation
import ModelFormats
import NeuralNet

extension Trainer {
    /// Where the trained weights sit in the checkpoint: "adapter/<key>", or "weights/<key>" for every weight.
    var weightsGroup: String { weights == .all ? "weights/" : "adapter/" }

    /// The checkpoint of this run now; `config` is stored beside it (the run's YAML).
    public func checkpoint(config: String) -> Checkpoint {
        var c = Checkpoint()
        for (key, p) in parameters {
            c.floats[weightsGroup + key] = FloatArray(shape: p.shape, values: p.value.scalars)
            if let s = optimizer.states[key] {
                c.floats["adam.m/" + key] = FloatArray(shape: p.shape, values: s.m)
                c.floats["adam.v/" + key] = FloatArray(shape: p.shape, values: s.v)
                c.integers["adam.step/" + key] = Int64(s.step)
            }
        }
        c.integers["step"] = Int64(state.step)
        c.integers["epoch"] = Int64(state.epoch)
        c.integers["cursor"] = Int64(state.cursor)
        c.integers["skipped"] = Int64(state.skipped)
        c.integers["bad_in_a_row"] = Int64(state.badInARow)
        c.words["dropout"] = state.dropoutStates
        switch weights {
        case .adapter(let name): c.strings["adapter"] = name
        case .all: c.strings["trains"] = "all"
        }
        c.strings["config"] = config
        return c
    }

    /// Puts this trainer (adapter, optimizer, data position, generators) where `c` says.
    public func restore(_ c: Checkpoint, source: String) throws {
        func fail(_ r: String) -> CheckpointError { CheckpointError(path: source, reason: r) }
        let saved: TrainedWeights = c.strings["trains"] == "all" ? .all : .adapter(c.strings["adapter"] ?? "?")
        guard saved == weights else { throw fail("holds \(saved), this run trains \(weights)") }
        var states: [String: AdamWState] = [:]
        for (key, p) in parameters {
            guard let a = c.floats[weightsGroup + key] else { throw fail("no weights for \(key)") }
            guard a.shape == p.shape else { throw fail("\(key) has shape \(a.shape), the model \(p.shape)") }
            p.value = try Tensor(a.values, shape: a.shape, requiresGrad: true)
            if let m = c.floats["adam.m/" + key], let v = c.floats["adam.v/" + key], let s = c.integers["adam.step/" + key] {
                states[key] = AdamWState(m: m.values, v: v.values, step: Int(s))
            }
        }
        optimizer.states = states
        guard let step = c.integers["step"], let epoch = c.integers["epoch"], let cursor = c.integers["cursor"] else {
            throw fail("no step, epoch or cursor")
        }
        state.step = Int(step); state.epoch = Int(epoch); state.cursor = Int(cursor)
        // absent from checkpoints written before steps were skipped: none were
        state.skipped = Int(c.integers["skipped"] ?? 0); state.badInARow = Int(c.integers["bad_in_a_row"] ?? 0)
        state.dropoutStates = c.words["dropout"] ?? []
        guard state.dropoutStates.count == dropouts.count else {
            throw fail("\(state.dropoutStates.count) dropout generators saved, the adapter has \(dropouts.count)")
        }
        restoreGenerators()
    }
}
