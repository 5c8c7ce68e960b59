#!/usr/bin/env python3
"""Writes Tests/ModelFormatsTests/Fixtures/ggml_blocks.json: pseudo-random GGML blocks (Q4_0, Q4_1, Q8_0, Q4_K,
Q6_K, F16, BF16) with their Float32 values from gguf-py's numpy dequantizers (an oracle independent of ours),
plus a few decoded values and sums of tensors of the SmolLM2 GGUF.
Run: /tmp/venv-tok/bin/python Scripts/make_ggml_goldens.py   (same venv as make_tokenizer_goldens.py)"""
import json, os
import numpy as np
import gguf
from gguf.quants import dequantize
from gguf import GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
rng = np.random.default_rng(1234)

def half(v):
    return np.array([v], dtype=np.float16).view(np.uint8).tolist()

def block(t):
    n_bytes = gguf.GGML_QUANT_SIZES[t][1]
    b = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    # finite fp16 scales at the offsets ggml-common.h gives
    if t in (T.Q4_0, T.Q8_0): b[0:2] = half(rng.uniform(-0.1, 0.1))
    if t == T.Q4_1: b[0:2] = half(rng.uniform(0.001, 0.1)); b[2:4] = half(rng.uniform(-1, 1))
    if t == T.Q4_K: b[0:2] = half(rng.uniform(0.001, 0.01)); b[2:4] = half(rng.uniform(0.001, 0.01))
    if t == T.Q6_K: b[208:210] = half(rng.uniform(-0.01, 0.01))
    return b

cases = []
for t in (T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q6_K):
    raw = np.concatenate([block(t) for _ in range(3)])
    vals = dequantize(raw, t).astype(np.float32).reshape(-1)
    cases.append({"type": t.name, "bytes": raw.tolist(), "values": [float(x) for x in vals]})
f16 = rng.normal(size=33).astype(np.float16)
cases.append({"type": "F16", "bytes": f16.view(np.uint8).tolist(), "values": [float(x) for x in f16.astype(np.float32)]})
bf = (rng.normal(size=33).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
cases.append({"type": "BF16", "bytes": bf.view(np.uint8).tolist(),
              "values": [float(x) for x in (bf.astype(np.uint32) << 16).view(np.float32)]})

model = {}
path = os.path.join(HOME, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
if os.path.exists(path):
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight", "output_norm.weight"):
            v = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
            model[t.name] = {"type": t.tensor_type.name, "count": int(v.size), "first": [float(x) for x in v[:8]],
                             "last": [float(x) for x in v[-8:]], "sum": float(v.sum()), "abs_sum": float(np.abs(v).sum())}
out = os.path.join(ROOT, "Tests", "ModelFormatsTests", "Fixtures", "ggml_blocks.json")
with open(out, "w") as f:
    json.dump({"reference": "gguf-py " + getattr(gguf, "__version__", "") + " gguf.quants.dequantize",
               "blocks": cases, "smollm2": model}, f)
print("wrote", out)
