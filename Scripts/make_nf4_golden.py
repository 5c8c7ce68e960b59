#!/usr/bin/env python3
"""NF4 reference from bitsandbytes itself (CPU), for QuantizationTests.

A (65, 256) Float32 weight given by a formula (no RNG: the Swift test rebuilds it) is quantized with
bitsandbytes.functional.quantize_4bit(blocksize=64, quant_type="nf4"), without and with double
quantization (compress_statistics=True). Writes Tests/QuantizationTests/Fixtures/nf4_bitsandbytes.json:
packed codes (hex), Float32 absmax per 64-block, the double-quantized absmax (bytes, per-256 maxima,
offset), the dynamic map, and dequantized values. Run with the reference venv plus `pip install bitsandbytes`.
"""
import json
import math
import os

import bitsandbytes as bnb
import torch
from bitsandbytes.functional import create_dynamic_map, dequantize_4bit, quantize_4bit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "QuantizationTests", "Fixtures", "nf4_bitsandbytes.json")
ROWS, COLS = 65, 256


def weight() -> torch.Tensor:
    # 0.1 + 2·cos(i) scaled per row, with one all-zero block and a row of large values.
    v = [(0.1 + 2 * math.cos(i * 0.731)) * (1 + (i // COLS) % 7) * 0.05 for i in range(ROWS * COLS)]
    for i in range(64, 128):
        v[i] = 0.0
    for i in range(COLS * 3, COLS * 4):
        v[i] *= 40.0
    return torch.tensor(v, dtype=torch.float32).reshape(ROWS, COLS)


def main() -> None:
    x = weight()
    q, s = quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=False)
    deq = dequantize_4bit(q, s, quant_type="nf4")
    q2, s2 = quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=True)
    deq2 = dequantize_4bit(q2, s2, quant_type="nf4")
    assert torch.equal(q, q2)
    out = {
        "bitsandbytes": bnb.__version__, "rows": ROWS, "cols": COLS,
        "codes_hex": bytes(q.flatten().tolist()).hex(),
        "absmax": s.absmax.tolist(),
        "nf4_code": s.code.tolist(),
        "dq_absmax_hex": bytes(s2.absmax.flatten().tolist()).hex(),
        "dq_block_absmax": s2.state2.absmax.tolist(),
        "dq_offset": float(s2.offset),
        "dynamic_map": create_dynamic_map(signed=True).tolist(),
        "state2_code": s2.state2.code.tolist(),
        "dequantized_head": deq.flatten()[:1024].tolist(),
        "dequantized_dq_head": deq2.flatten()[:1024].tolist(),
        "dequantized_dq_row3": deq2[3].tolist(),
        "dequantized_sum": float(deq.double().sum()),
        "dequantized_dq_sum": float(deq2.double().sum()),
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
