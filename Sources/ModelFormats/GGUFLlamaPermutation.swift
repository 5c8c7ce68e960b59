// Undoes the row permutation llama.cpp's HF→GGUF converter applies to Llama `attn_q` / `attn_k` weights,
// so that loaded weights use the half-split RoPE layout of HF transformers (and of our RoPE). Not RoPE itself.
//
// convert_hf_to_gguf.py, LlamaModel.permute: w.reshape(n_head, 2, hd/2, in).swapaxes(1, 2).reshape(w.shape),
// i.e. GGUF row (h, i, j) = HF row (h, j, i) with i < hd/2, j < 2: pairs (x_i, x_{i+hd/2}) become adjacent
// rows (interleaved rotary order). The inverse reshapes (n_head, hd/2, 2, in) and swaps back to (n_head, 2, hd/2, in).

/// Row permutations between GGUF's interleaved and HF's half-split rotary order.
///
///     var wq = gguf.floats(info)                                   // (n_head·hd, in), row-major
///     wq = GGUFLlamaPermutation.unpermute(wq, rows: 576, columns: 576, heads: 9)
public enum GGUFLlamaPermutation {
    /// GGUF (interleaved) → HF (half-split): out[h][j·hd/2 + i] = in[h][2i + j].
    /// `heads` is `n_head` for attn_q and `n_head_kv` for attn_k. Also valid for a bias (`columns` = 1).
    public static func unpermute(_ w: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        permuteRows(w, rows: rows, columns: columns, heads: heads) { h, hd, r in
            // destination row r = h·hd + j·hd/2 + i   ←   source row h·hd + 2i + j
            let within = r - h * hd, j = within / (hd / 2), i = within % (hd / 2)
            return h * hd + 2 * i + j
        }
    }

    /// HF (half-split) → GGUF (interleaved), what the converter does: out[h][2i + j] = in[h][j·hd/2 + i].
    public static func permute(_ w: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        permuteRows(w, rows: rows, columns: columns, heads: heads) { h, hd, r in
            let within = r - h * hd, i = within / 2, j = within % 2
            return h * hd + j * (hd / 2) + i
        }
    }

    static func permuteRows(_ w: [Float], rows: Int, columns: Int, heads: Int,
                            source: (_ head: Int, _ headDim: Int, _ row: Int) -> Int) -> [Float] {
        precondition(w.count == rows * columns, "\(w.count) values is not \(rows)×\(columns)")
        precondition(heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0, "\(rows) rows do not split into \(heads) heads of even size")
        let hd = rows / heads
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    let s = source(r / hd, hd, r)
                    for c in 0..<columns { dst[r * columns + c] = src[s * columns + c] }
                }
            }
        }
        return out
    }
}
