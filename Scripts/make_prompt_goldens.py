#!/usr/bin/env python3
"""Token ids of training and extraction prompts as transformers' tokenizers write them, for PromptFormat's tests.

For a few (prefix, question, answer) examples that `autore data build` writes from the committed fixture
documents, and for each cached GGUF (SmolLM2-135M-Instruct, Gemma 3 270M), transformers'
AutoTokenizer(gguf_file=...) gives:
  plain format (chat_template: none): prompt = tokenizer(prefix + question), the tokenizer's own special
      tokens included (Gemma: BOS first; SmolLM2: none), and sequence = prompt + answer + EOS, tokenized as
      tokenizer(prefix + question + answer + eos_token);
  chat format (chat_template: model, where the GGUF has a template): prompt = apply_chat_template of one user
      turn (prefix + question) with the generation prompt, tokenize=True; sequence = that text + answer + the
      template's end of turn, with add_special_tokens=False as apply_chat_template tokenizes.
Writes Tests/TokenizationTests/Fixtures/prompt_format_ids.json (small, committed).

transformers 5 reads GGUF tokenizers only with torch importable, though the tokenizer path never touches a
tensor: a stand-in module named torch is installed after transformers is imported (no model is loaded).
Run:
    swift run -c release autore data build --file Data/fixtures/tiny_redocred.json --paradigm D_R_H_F_desc \\
        --out /tmp/prompt_examples.jsonl
    python3 -m venv Scripts/.venv && Scripts/.venv/bin/pip install transformers gguf sentencepiece jinja2 tokenizers
    Scripts/.venv/bin/python Scripts/make_prompt_goldens.py --examples /tmp/prompt_examples.jsonl
"""
import argparse
import json
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))
MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]


def load_tokenizer(path):
    import transformers
    from transformers import AutoTokenizer
    import transformers.modeling_gguf_pytorch_utils as g
    g.is_torch_available = lambda: True
    if "torch" not in sys.modules:
        stand_in = types.ModuleType("torch")
        stand_in.__getattr__ = lambda name: object      # dtype names in annotations; never called
        sys.modules["torch"] = stand_in
    return AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path)), transformers.__version__


def pick(examples):
    """The first example of each stage, and the first two of the facts stage (several lines of answer)."""
    out, seen = [], {}
    for e in examples:
        n = seen.get(e["stage"], 0)
        if n < (2 if e["stage"] == "facts" else 1):
            out.append(e)
            seen[e["stage"]] = n + 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", required=True, help="JSONL written by `autore data build`")
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "TokenizationTests", "Fixtures", "prompt_format_ids.json"))
    a = ap.parse_args()
    with open(a.examples) as f:
        examples = pick([json.loads(line) for line in f if line.strip()])
    assert examples, "no examples"
    cases, version = [], None
    for name in MODELS:
        tok, version = load_tokenizer(os.path.join(HOME, "models", name))
        formats = ["none"] + (["model"] if tok.chat_template else [])
        for e in examples:
            text = e["prefix"] + e["question"]
            for fmt in formats:
                if fmt == "none":
                    prompt = tok(text)["input_ids"]
                    sequence = tok(text + e["answer"] + tok.eos_token)["input_ids"]
                else:
                    rendered = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                       add_generation_prompt=True)
                    prompt = tok(rendered, add_special_tokens=False)["input_ids"]
                    assert prompt == list(tok.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                                                  add_generation_prompt=True, return_dict=True)["input_ids"])
                    sequence = tok(rendered + e["answer"] + tok.eos_token, add_special_tokens=False)["input_ids"]
                cases.append({"model": name, "chat_template": fmt, "stage": e["stage"], "title": e["title"],
                              "prefix": e["prefix"], "question": e["question"], "answer": e["answer"],
                              "prompt_ids": prompt, "sequence_ids": sequence})
        print(f"{name}: BOS {tok.bos_token!r} id {tok.bos_token_id}, EOS {tok.eos_token!r}; formats {formats}", file=sys.stderr)
    with open(a.out, "w") as f:
        json.dump({"reference": f"transformers {version} AutoTokenizer(gguf_file=...)",
                   "examples": "autore data build --file Data/fixtures/tiny_redocred.json --paradigm D_R_H_F_desc",
                   "cases": cases}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(cases)} cases to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
