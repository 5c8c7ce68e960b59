#!/usr/bin/env python3
"""Reference trajectory of torch.optim.AdamW with HF's cosine warm-up schedule and gradient clipping.

Two parameters (3×4 and 5) start from a formula and receive, at step k, the gradient
g = sin(0.37·(i+1)·(k+1)) · (1 + 0.5·k) over their flattened index i (large enough to be clipped at
some steps). Each step: clip_grad_norm_(max_norm=1.0), optimizer.step(), scheduler.step().
Writes Tests/NeuralNetTests/Fixtures/adamw_golden.json with the parameters and the learning rate
after every step. Run with the reference venv (Scripts/requirements-reference.txt).
"""
import json
import math
import os

import torch
from transformers import get_cosine_schedule_with_warmup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "NeuralNetTests", "Fixtures", "adamw_golden.json")
STEPS, WARMUP, LR, WD, MAX_NORM = 10, 3, 1e-2, 0.01, 1.0


def main() -> None:
    shapes = [(3, 4), (5,)]
    params = []
    for j, shape in enumerate(shapes):
        n = math.prod(shape)
        init = [math.cos(0.5 * i + j) for i in range(n)]
        params.append(torch.nn.Parameter(torch.tensor(init, dtype=torch.float32).reshape(shape)))
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
    sched = get_cosine_schedule_with_warmup(opt, WARMUP, STEPS)
    trajectory = []
    for k in range(STEPS):
        for p in params:
            n = p.numel()
            g = [math.sin(0.37 * (i + 1) * (k + 1)) * (1 + 0.5 * k) for i in range(n)]
            p.grad = torch.tensor(g, dtype=torch.float32).reshape(p.shape)
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_NORM)
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        trajectory.append({"lr": lr, "grad_norm": float(norm), "params": [p.detach().flatten().tolist() for p in params]})
    meta = {"lr": LR, "weight_decay": WD, "betas": [0.9, 0.999], "eps": 1e-8, "warmup": WARMUP, "steps": STEPS,
            "max_norm": MAX_NORM, "torch": torch.__version__}
    with open(OUT, "w") as f:
        json.dump({"meta": meta, "shapes": [list(s) for s in shapes], "trajectory": trajectory}, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
