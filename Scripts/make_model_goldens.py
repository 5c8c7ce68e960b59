#!/usr/bin/env python3
"""Reference outputs of SmolLM2-135M-Instruct from HF transformers, for LanguageModelsTests.

Loads the same GGUF that Scripts/setup fetches (transformers dequantises it to Float32), and writes
Tests/LanguageModelsTests/Fixtures/smollm2_goldens.json with, for a few prompts: the token ids, the
top-5 logits at every position, and a 32-token greedy continuation (with the logit margin between the
best and second-best token at each step, so a test can tell a real mismatch from a near tie).

Run in a venv of its own (never needed by the product):
    python3 -m venv ~/.cache/autore/venv-ref
    ~/.cache/autore/venv-ref/bin/pip install -r Scripts/requirements-reference.txt
    ~/.cache/autore/venv-ref/bin/python Scripts/make_model_goldens.py
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "LanguageModelsTests", "Fixtures", "smollm2_goldens.json")

PROMPTS = [
    "The capital of France is",
    "Skai TV is a Greek free-to-air television network based in Piraeus. It is part of the Skai Group,",
    "<|im_start|>user\nList the relations expressed in: Marie Curie was born in Warsaw.<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
]


def main() -> None:
    torch.manual_seed(0)
    model_dir = os.path.join(HOME, "models")
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF, torch_dtype=torch.float32)
    model.eval()
    cases = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0]
            top = torch.topk(logits, 5, dim=-1)
            seq = list(ids)
            margins = []
            for _ in range(32):
                step = model(torch.tensor([seq])).logits[0, -1]
                best = torch.topk(step, 2)
                margins.append(float(best.values[0] - best.values[1]))
                seq.append(int(best.indices[0]))
            cases.append({
                "text": text,
                "ids": ids,
                "top5_ids": top.indices.tolist(),
                "top5_logits": [[round(x, 5) for x in row] for row in top.values.tolist()],
                "greedy_ids": seq[len(ids):],
                "greedy_margins": [round(m, 5) for m in margins],
            })
    meta = {"source": GGUF, "transformers": __import__("transformers").__version__, "torch": torch.__version__}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"meta": meta, "cases": cases}, f, separators=(",", ":"))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
