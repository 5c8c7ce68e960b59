#!/usr/bin/env python3
"""Reference full fine-tuning of SmolLM2-135M-Instruct with torch, for FullFineTuningTests.

Loads the GGUF that Scripts/setup fetches (transformers dequantises it to Float32) and trains every weight
(embeddings, which the head shares, norms, projections; torch seed 0, no dropout in this model) on the same
batch as Scripts/make_peft_golden.py. Writes Tests/LanguageModelsTests/Fixtures/full_ft_parity.json: the
token batch, the loss of each of 8 steps, the top-5 logits at every position of EVAL_TEXT after training,
and a few trained values (first 4 of some tensors) to compare without running a model.

One step: loss = HF's causal-LM loss of the batch (mean cross-entropy over all 2 × 47 shifted positions),
backward, clip_grad_norm_(1.0) over all weights, torch.optim.AdamW(lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
weight_decay=0.01, single-tensor path), constant learning rate. The recorded loss is the one before the
step's update.

Run in the reference venv (never needed by the product):
    ~/.cache/autore/venv-ref/bin/python Scripts/make_full_ft_golden.py
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_peft_golden import BATCH, EVAL_TEXT, FIXTURES, GGUF, HOME, LENGTH, TEXT, train  # noqa: E402

SEED, STEPS, LR, BETAS, EPS, WEIGHT_DECAY, MAX_NORM = 0, 8, 1e-4, (0.9, 0.999), 1e-8, 0.01, 1.0
PROBES = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
          "model.layers.29.mlp.down_proj.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight"]


def main() -> None:
    torch.manual_seed(SEED)
    model_dir = os.path.join(HOME, "models")
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF, torch_dtype=torch.float32)
    assert model.lm_head.weight is model.model.embed_tokens.weight, "SmolLM2's head is tied to its embedding"
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    batch = [ids[i * LENGTH:(i + 1) * LENGTH] for i in range(BATCH)]
    eval_ids = tok(EVAL_TEXT, add_special_tokens=False)["input_ids"]
    named = dict(model.named_parameters())
    before = {name: named[name].detach().flatten()[:4].tolist() for name in PROBES}

    params = list(model.parameters())
    losses = train(model, params, batch, steps=STEPS, lr=LR, weight_decay=WEIGHT_DECAY, betas=BETAS, eps=EPS,
                   max_norm=MAX_NORM)

    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([eval_ids])).logits[0]
    top = torch.topk(logits, 5, dim=-1)
    after = {name: named[name].detach().flatten()[:4].tolist() for name in PROBES}
    meta = {
        "source": GGUF, "seed": SEED, "steps": STEPS, "lr": LR, "betas": list(BETAS), "eps": EPS,
        "weight_decay": WEIGHT_DECAY, "max_grad_norm": MAX_NORM, "schedule": "constant", "text": TEXT,
        "eval_text": EVAL_TEXT, "parameters": sum(p.numel() for p in params),
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
    }
    out = {
        "meta": meta, "batch": batch, "losses": losses, "eval_ids": eval_ids,
        "top5_ids": top.indices.tolist(), "top5_logits": top.values.tolist(),
        "probes_before": before, "probes_after": after,
    }
    path = os.path.join(FIXTURES, "full_ft_parity.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
