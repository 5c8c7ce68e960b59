#!/usr/bin/env python3
"""Loads a LoRA adapter that AutoRE-Swift exported into PEFT and compares its logits with ours.

DIR holds what our side wrote: adapter_config.json + adapter_model.safetensors (PEFT's format) and
autore_logits.json ({"ids": [...], "top5_ids": [[...]], "top5_logits": [[...]]}: our top-5 logits at
every position of `ids` with the adapter active). PEFTParityTests writes such a folder when
AUTORE_PEFT_EXPORT is set:

    AUTORE_PEFT_EXPORT=/tmp/autore-peft swift test -c release --filter PEFTParityTests
    ~/.cache/autore/venv-ref/bin/python Scripts/check_peft_roundtrip.py /tmp/autore-peft

The base is SmolLM2-135M-Instruct from the cached GGUF (transformers dequantises it to Float32). Checks
that PEFT loads every tensor of the file unchanged, prints max |PEFT logit − our logit| over our top-5
ids at every position and how far the adapter moves the logits from the base, and exits non-zero when
the difference exceeds 1e-3 or the adapter changes nothing.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TOLERANCE = 1e-3


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = sys.argv[1]
    ours = json.load(open(os.path.join(folder, "autore_logits.json")))
    base = AutoModelForCausalLM.from_pretrained(os.path.join(HOME, "models"), gguf_file=GGUF, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, folder)
    model.eval()

    # Every tensor of the file must have landed, unchanged, in a LoRA layer of the model.
    params = dict(model.named_parameters())
    saved = load_file(os.path.join(folder, "adapter_model.safetensors"))
    for key, value in saved.items():
        name = key.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight")
        if name not in params:
            print(f"{key}: PEFT did not load this tensor (no parameter {name})", file=sys.stderr)
            return 1
        if not torch.equal(params[name].detach(), value):
            print(f"{key}: PEFT holds different values than the file", file=sys.stderr)
            return 1
    lora_params = [n for n in params if ".lora_" in n]
    if len(lora_params) != len(saved):
        print(f"the model has {len(lora_params)} LoRA matrices, the file {len(saved)}", file=sys.stderr)
        return 1

    ids = torch.tensor([ours["ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0]
        with model.disable_adapter():
            base_logits = model(ids).logits[0]
    worst = 0.0
    for t, (top_ids, top_logits) in enumerate(zip(ours["top5_ids"], ours["top5_logits"])):
        for i, x in zip(top_ids, top_logits):
            worst = max(worst, abs(float(logits[t, i]) - x))
    moved = float((logits - base_logits).abs().max())
    print(f"{len(saved)} tensors loaded by PEFT unchanged; {len(ours['ids'])} positions")
    print(f"max |PEFT logit - autore logit| over our top-5 ids: {worst:.3g} (tolerance {TOLERANCE})")
    print(f"max |adapter logit - base logit|: {moved:.3g}")
    if worst > TOLERANCE or moved <= 10 * TOLERANCE:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
