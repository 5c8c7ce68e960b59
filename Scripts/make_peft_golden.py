#!/usr/bin/env python3
"""Reference LoRA training of SmolLM2-135M-Instruct with PEFT and torch, for PEFTParityTests.

Loads the GGUF that Scripts/setup fetches (transformers dequantises it to Float32), wraps it with a PEFT
LoRA adapter (r=8, lora_alpha=16, lora_dropout=0, q_proj and v_proj, torch seed 0) and writes, under
Tests/LanguageModelsTests/Fixtures/:
  peft_parity/initial/   the adapter before training, as PEFT's save_pretrained writes it
  peft_parity.json       the token batch (2 sequences × 48 tokens of TEXT), the loss of each of 20 steps,
                         and the top-5 logits at every position of EVAL_TEXT with the trained adapter.

One step: loss = HF's causal-LM loss of the batch (mean cross-entropy over all 2 × 47 shifted
positions), backward, clip_grad_norm_(1.0), torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
weight_decay=0.01, single-tensor path), constant learning rate. The recorded loss is the one before the
step's update.

Run in the reference venv (never needed by the product):
    ~/.cache/autore/venv-ref/bin/python Scripts/make_peft_golden.py
"""
import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"   # what the adapter's config names as its base
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "LanguageModelsTests", "Fixtures")

SEED, RANK, ALPHA, TARGETS = 0, 8, 16, ["q_proj", "v_proj"]
STEPS, LR, BETAS, EPS, WEIGHT_DECAY, MAX_NORM = 20, 1e-3, (0.9, 0.999), 1e-8, 0.01, 1.0
BATCH, LENGTH = 2, 48
TEXT = (
    "Marie Curie was born in Warsaw in 1867 and moved to Paris in 1891 to study physics and mathematics "
    "at the Sorbonne. There she met Pierre Curie, a professor at the School of Physics and Chemistry, and "
    "the two married in 1895. Together they discovered polonium, named after her native Poland, and "
    "radium. In 1903 she shared the Nobel Prize in Physics with Pierre Curie and Henri Becquerel, and in "
    "1911 she received the Nobel Prize in Chemistry alone."
)
EVAL_TEXT = "Albert Einstein was born in Ulm in 1879 and received the Nobel Prize in Physics in 1921."


def train(model, params, batch, steps, lr, weight_decay, betas=BETAS, eps=EPS, max_norm=MAX_NORM):
    """`steps` updates of `params` on `batch` (HF's causal-LM loss of the whole batch, clip_grad_norm_,
    single-tensor AdamW, constant learning rate); returns each step's loss before its update."""
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    x = torch.tensor(batch)
    losses = []
    model.train()
    for step in range(steps):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        print(f"step {step + 1}: loss {loss.item():.6f}", file=sys.stderr)
    return losses


def main() -> None:
    torch.manual_seed(SEED)
    model_dir = os.path.join(HOME, "models")
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF)
    base = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF, torch_dtype=torch.float32)
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) >= BATCH * LENGTH, f"TEXT has {len(ids)} tokens, fewer than {BATCH * LENGTH}"
    batch = [ids[i * LENGTH:(i + 1) * LENGTH] for i in range(BATCH)]
    eval_ids = tok(EVAL_TEXT, add_special_tokens=False)["input_ids"]

    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    model.peft_config["default"].base_model_name_or_path = BASE_NAME
    initial = os.path.join(FIXTURES, "peft_parity", "initial")
    shutil.rmtree(initial, ignore_errors=True)
    model.save_pretrained(initial)
    readme = os.path.join(initial, "README.md")      # a generated model card; not part of the adapter
    if os.path.exists(readme):
        os.remove(readme)
    size = sum(os.path.getsize(os.path.join(initial, f)) for f in os.listdir(initial))
    print(f"initial adapter: {size / 1e6:.2f} MB in {initial}", file=sys.stderr)

    params = [p for p in model.parameters() if p.requires_grad]
    losses = train(model, params, batch, steps=STEPS, lr=LR, weight_decay=WEIGHT_DECAY)

    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([eval_ids])).logits[0]
        with model.disable_adapter():
            base_logits = model(torch.tensor([eval_ids])).logits[0]
    top = torch.topk(logits, 5, dim=-1)
    meta = {
        "source": GGUF, "seed": SEED, "rank": RANK, "alpha": ALPHA, "dropout": 0.0, "targets": TARGETS,
        "steps": STEPS, "lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WEIGHT_DECAY,
        "max_grad_norm": MAX_NORM, "schedule": "constant", "text": TEXT, "eval_text": EVAL_TEXT,
        "max_abs_trained_minus_base_logit": float((logits - base_logits).abs().max()),
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "peft": __import__("peft").__version__,
    }
    out = {
        "meta": meta, "batch": batch, "losses": losses, "eval_ids": eval_ids,
        "top5_ids": top.indices.tolist(), "top5_logits": top.values.tolist(),
    }
    path = os.path.join(FIXTURES, "peft_parity.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path}; trained − base logits differ by up to {meta['max_abs_trained_minus_base_logit']:.4f}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
