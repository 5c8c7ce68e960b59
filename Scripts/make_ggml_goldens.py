#!/usr/bin/env python3
"""Writes Tests/ModelFormatsTests/Fixtures/ggml_blocks.json: pseudo-random GGML blocks (Q4_0, Q4_1, Q8_0, Q4_K,
Q6_K, F16, BF16) with their Float32 values from gguf-py's numpy dequantizers (an oracle independent of ours),
plus a few decoded values and sums of tensors of the SmolLM2 GGUF; and ggml_blocks_5bit.json: the same for
Q5_0, Q5_1 and Q5_K blocks (their own random stream, so the first file does not change) and for one tensor of
each type of the Gemma 3 270M GGUF (Q5_0, Q4_K, Q6_K, Q8_0, F32).
Run: Scripts/.venv/bin/python Scripts/make_ggml_goldens.py   (any venv with gguf and numpy)"""
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

def block(t, rng=rng):
    n_bytes = gguf.GGML_QUANT_SIZES[t][1]
    b = rng.integers(0, 256, n_bytes, dtype=np.uint8)
    # finite fp16 scales at the offsets ggml-common.h gives
    if t in (T.Q4_0, T.Q8_0): b[0:2] = half(rng.uniform(-0.1, 0.1))
    if t == T.Q4_1: b[0:2] = half(rng.uniform(0.001, 0.1)); b[2:4] = half(rng.uniform(-1, 1))
    if t == T.Q4_K: b[0:2] = half(rng.uniform(0.001, 0.01)); b[2:4] = half(rng.uniform(0.001, 0.01))
    if t == T.Q6_K: b[208:210] = half(rng.uniform(-0.01, 0.01))
    if t == T.Q5_0: b[0:2] = half(rng.uniform(-0.1, 0.1))
    if t == T.Q5_1: b[0:2] = half(rng.uniform(0.001, 0.1)); b[2:4] = half(rng.uniform(-1, 1))
    if t == T.Q5_K: b[0:2] = half(rng.uniform(0.001, 0.01)); b[2:4] = half(rng.uniform(0.001, 0.01))
    return b

def summary(t):
    v = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
    return {"type": t.tensor_type.name, "count": int(v.size), "first": [float(x) for x in v[:8]],
            "last": [float(x) for x in v[-8:]], "sum": float(v.sum()), "abs_sum": float(np.abs(v).sum())}

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
            model[t.name] = summary(t)
out = os.path.join(ROOT, "Tests", "ModelFormatsTests", "Fixtures", "ggml_blocks.json")
with open(out, "w") as f:
    json.dump({"reference": "gguf-py " + getattr(gguf, "__version__", "") + " gguf.quants.dequantize",
               "blocks": cases, "smollm2": model}, f)
print("wrote", out)

# --- 5-bit blocks and the Gemma 3 270M file ---------------------------------------------------------------
rng5 = np.random.default_rng(5005)
cases5 = []
for t in (T.Q5_0, T.Q5_1, T.Q5_K):
    raw = np.concatenate([block(t, rng5) for _ in range(3)])
    vals = dequantize(raw, t).astype(np.float32).reshape(-1)
    cases5.append({"type": t.name, "bytes": raw.tolist(), "values": [float(x) for x in vals]})
gemma = {}
path = os.path.join(HOME, "models", "gemma-3-270m-q4_k_m.gguf")
if os.path.exists(path):
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_output.weight", "blk.0.ffn_down.weight",
                      "blk.0.attn_q_norm.weight"):
            gemma[t.name] = summary(t)
out = os.path.join(ROOT, "Tests", "ModelFormatsTests", "Fixtures", "ggml_blocks_5bit.json")
with open(out, "w") as f:
    json.dump({"reference": "gguf-py " + getattr(gguf, "__version__", "") + " gguf.quants.dequantize",
               "blocks": cases5, "gemma3": gemma}, f)
print("wrote", out)
