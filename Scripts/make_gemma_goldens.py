#!/usr/bin/env python3
"""Reference outputs of Gemma 3 270M from HF transformers on the same GGUF the Swift code reads.

transformers loads gemma-3-270m-q4_k_m.gguf as Gemma3ForCausalLM (weights dequantised to Float32) and its
tokenizer from the GGUF metadata. Writes (small, committed):
  Tests/LanguageModelsTests/Fixtures/gemma3_goldens.json
      per prompt: ids (BOS first), at every position the logits of the top 20 tokens and of 200 fixed
      random vocabulary columns, and a 32-token greedy continuation with the top-2 logit margin per step;
      the first Re-DocRED dev documents joined to 640 tokens (past the 512-token window), its last 6 positions.
  Tests/TokenizationTests/Fixtures/gemma3_texts.json
      ids of awkward texts (digits, accents, CJK, emoji, runs of spaces, special tokens), no BOS.
  Tests/TokenizationTests/Fixtures/gemma3_redocred_dev_hashes.json
      per Re-DocRED dev document: the first 16 hex digits of sha256 of its ids joined by ",", and the count.
Run in the git-ignored venv (never needed by the product):
    python3 -m venv Scripts/.venv && Scripts/.venv/bin/pip install torch transformers accelerate gguf sentencepiece numpy
    Scripts/.venv/bin/python Scripts/make_gemma_goldens.py [--long-only]
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
GGUF = "gemma-3-270m-q4_k_m.gguf"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV = os.path.join(HOME, "data", "redocred", "dev_revised.json")

PROMPTS = [
    "The Eiffel Tower is located in the city of",
    "Skai TV is a Greek free-to-air television network based in Piraeus. It is part of the Skai Group,",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Marie Curie was born in Warsaw in 1867. She",
    "Relations: place of birth, country. Text: Barack Obama was born in Honolulu, Hawaii. Facts:",
]

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Numbers: 0 1 12 123 1234 3.14159 -42 1,000,000 2024-11-25 ½ ² ٣ 007",
    "Punctuation!!! ??? ... --- (parens) [brackets] {braces} <angles> @#$%^&*_+=|\\/~`",
    "Café naïve résumé façade Ångström über straße",
    "日本語のテキストと中文文本，还有한국어.",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧 ❤️",
    "  leading spaces",
    "trailing spaces   ",
    "multiple     spaces   between and a        long run",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four\r\nwindows\n",
    "\n\n\n",
    " ",
    "",
    "<start_of_turn>user\nExtract the relations.<end_of_turn>\n<start_of_turn>model\n",
    "text<eos>more<bos>text",
    "Mixed: abcDEF123ghi 4.5e-3 x²+y²=z² café’s “quotes” — dash … ellipsis",
    "Zero\u200bwidth and non\u00a0breaking spaces\u3000ideographic",
    "Unicode \U0001F9EC rare: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ \u0000 control",
]


def dev_texts(path):
    with open(path) as f:
        docs = json.load(f)
    return [" ".join(" ".join(s) for s in d["sents"]) for d in docs], [d.get("title", "") for d in docs]


def ids_hash(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]   # 64 bits is plenty for 500 documents


def long_document_case(tok, case):
    """The first Re-DocRED dev documents joined until 640 tokens (BOS first): past the 512-token window of the
    local layers; logits at its last 6 positions."""
    if not os.path.exists(DEV):
        return None
    texts, _ = dev_texts(DEV)
    ids = tok(" ".join(texts[:8]))["input_ids"][:640]
    assert len(ids) == 640, len(ids)
    return case(tok.decode(ids[1:]), ids, list(range(634, 640)), False)


def columns(logits_row, ids):
    return [round(float(logits_row[i]), 5) for i in ids]


def main() -> None:
    torch.manual_seed(0)
    model_dir = os.path.join(HOME, "models")
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF, dtype=torch.float32)
    model.eval()
    cfg = model.config
    print(type(model).__name__, cfg, file=sys.stderr)
    vocab = cfg.vocab_size
    random_ids = sorted(np.random.default_rng(2025).choice(vocab, 200, replace=False).tolist())

    def case(text, ids, positions, greedy):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        rows = []
        for t in (range(len(ids)) if positions is None else positions):
            top = torch.topk(logits[t], 20)
            rows.append({"position": t, "top_ids": top.indices.tolist(),
                         "top_logits": [round(x, 5) for x in top.values.tolist()],
                         "random_logits": columns(logits[t], random_ids)})
        out = {"text": text, "ids": ids, "positions": rows}
        if greedy:
            seq, margins = list(ids), []
            with torch.no_grad():
                for _ in range(32):
                    step = model(torch.tensor([seq])).logits[0, -1]
                    best = torch.topk(step, 2)
                    margins.append(round(float(best.values[0] - best.values[1]), 5))
                    seq.append(int(best.indices[0]))
            out["greedy_ids"] = seq[len(ids):]
            out["greedy_text"] = tok.decode(seq[len(ids):])
            out["greedy_margins"] = margins
            print(repr(text), "->", repr(out["greedy_text"]), file=sys.stderr)
        return out

    out = os.path.join(ROOT, "Tests", "LanguageModelsTests", "Fixtures", "gemma3_goldens.json")
    if "--long-only" in sys.argv:      # recompute only the long document into the existing goldens
        with open(out) as f:
            golden = json.load(f)
        assert golden["random_ids"] == random_ids
        golden["long"] = long_document_case(tok, case)
        with open(out, "w") as f:
            json.dump(golden, f, separators=(",", ":"))
        print("wrote the long case to", out, file=sys.stderr)
        return
    cases = [case(p, tok(p)["input_ids"], None, True) for p in PROMPTS]   # every position
    long_case = long_document_case(tok, case)
    meta = {"source": GGUF, "transformers": transformers.__version__, "torch": torch.__version__,
            "model_class": type(model).__name__, "sliding_window": cfg.sliding_window,
            "layer_types": getattr(cfg, "layer_types", None), "rope_local_base_freq": getattr(cfg, "rope_local_base_freq", None),
            "query_pre_attn_scalar": cfg.query_pre_attn_scalar, "hidden_activation": cfg.hidden_activation,
            "final_logit_softcapping": cfg.final_logit_softcapping, "attn_logit_softcapping": cfg.attn_logit_softcapping,
            "rope_parameters": str(getattr(cfg, "rope_parameters", None))}
    with open(out, "w") as f:
        json.dump({"meta": meta, "random_ids": random_ids, "cases": cases, "long": long_case}, f, separators=(",", ":"))
    print("wrote", out, file=sys.stderr)

    fixtures = os.path.join(ROOT, "Tests", "TokenizationTests", "Fixtures")
    tcases = []
    for t in TEXTS:
        ids = tok.encode(t, add_special_tokens=False)
        tcases.append({"text": t, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
                       "decoded": tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)})
    with open(os.path.join(fixtures, "gemma3_texts.json"), "w") as f:
        json.dump({"model": GGUF, "reference": f"transformers {transformers.__version__} AutoTokenizer(gguf_file=...)",
                   "bos_ids": tok("Hello")["input_ids"], "cases": tcases}, f, ensure_ascii=False, indent=1)
    if os.path.exists(DEV):
        texts, titles = dev_texts(DEV)
        rows, total = [], 0
        for text, title in zip(texts, titles):
            ids = tok.encode(text, add_special_tokens=False)
            total += len(ids)
            rows.append({"title": title, "count": len(ids), "sha256": ids_hash(ids)})
        with open(os.path.join(fixtures, "gemma3_redocred_dev_hashes.json"), "w") as f:
            json.dump({"model": GGUF, "hash": "sha256 of the ids joined by ',', first 16 hex digits",
                       "total_tokens": total, "rows": rows}, f, ensure_ascii=False, indent=0)
    print("wrote tokenizer goldens to", fixtures, file=sys.stderr)


if __name__ == "__main__":
    main()
