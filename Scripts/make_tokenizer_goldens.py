#!/usr/bin/env python3
"""Writes the tokenizer goldens of Tests/TokenizationTests/Fixtures from transformers' GGUF tokenizer loading.

Reference: AutoTokenizer.from_pretrained(dir, gguf_file=...) on the same SmolLM2 GGUF the Swift code reads.
Outputs (small, committed):
  smollm2_texts.json   ids of a fixed set of texts (add_special_tokens=False)
  smollm2_redocred_dev_hashes.json   per Re-DocRED dev document: sha256 of its ids joined by ",", and the count
Run:  python3 -m venv /tmp/venv-tok && /tmp/venv-tok/bin/pip install -r Scripts/requirements-tokenizer-goldens.txt
      /tmp/venv-tok/bin/python Scripts/make_tokenizer_goldens.py [--model PATH] [--dev PATH]
"""
import argparse, hashlib, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("AUTORE_HOME", os.path.expanduser("~/.cache/autore"))

TEXTS = [
    "Hello world",
    "Hello, world! How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you've heard: they'll say it's what we'd do. DON'T SHOUT'S",
    "Numbers: 0 1 12 123 1234 3.14159 -42 1,000,000 2024-11-25 ½ ² ٣",
    "Punctuation!!! ??? ... --- (parens) [brackets] {braces} <angles> @#$%^&*_+=|\\/~`",
    "Café naïve résumé façade Ångström über straße",
    "日本語のテキストと中文文本，还有한국어.",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧 ❤️",
    "  leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "multiple     spaces   between",
    "line one\nline two\n\nline four\r\nwindows\n",
    "\n\n\n",
    " ",
    "",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nExtract the relations from: Barack Obama was born in Honolulu, Hawaii.<|im_end|>\n"
    "<|im_start|>assistant\n",
    "Mixed: abcDEF123ghi 4.5e-3 x²+y²=z² café’s “quotes” — dash … ellipsis",
    "Zero\u200bwidth and non\u00a0breaking spaces\u3000ideographic",
]

# Conversations rendered by the GGUF's own Jinja `tokenizer.chat_template` (transformers apply_chat_template).
CHATS = [
    ([{"role": "user", "content": "Hi"}], True),
    ([{"role": "system", "content": "Extract relations."}, {"role": "user", "content": "Doc: A was born in B."}], True),
    ([{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}], False),
]


def load_tokenizer(model_path):
    """transformers' GGUF tokenizer, with the pre-tokeniser that the file's `tokenizer.ggml.pre` names.

    transformers' GGUF converter gives every gpt2-type tokenizer a plain ByteLevel pre-tokeniser. For
    `tokenizer.ggml.pre == "smollm"` llama.cpp first isolates each \\p{N} character (regex "\\p{N}") and the
    original SmolLM2 tokenizer.json has Sequence[Digits(individual_digits=True), ByteLevel]; the two differ
    on numeric characters that have merges with a preceding space (e.g. " ½"). We install that pre-tokeniser.
    Returns (patched, unpatched)."""
    # transformers refuses GGUF without torch, but the tokenizer path never touches tensors.
    import transformers.modeling_gguf_pytorch_utils as g
    g.is_torch_available = lambda: True
    from transformers import AutoTokenizer
    from tokenizers import pre_tokenizers
    import gguf
    kw = dict(pretrained_model_name_or_path=os.path.dirname(model_path), gguf_file=os.path.basename(model_path))
    plain = AutoTokenizer.from_pretrained(**kw)
    tok = AutoTokenizer.from_pretrained(**kw)
    field = gguf.GGUFReader(model_path).fields.get("tokenizer.ggml.pre")
    pre = bytes(field.parts[field.data[0]]).decode() if field else "default"
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    elif pre not in ("default", "gpt2", "mpt", "olmo"):
        sys.exit(f"tokenizer.ggml.pre '{pre}' has no reference pre-tokeniser here")
    return tok, plain


def dev_texts(path):
    with open(path) as f:
        docs = json.load(f)
    return [" ".join(" ".join(s) for s in d["sents"]) for d in docs], [d.get("title", "") for d in docs]


def ids_hash(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]   # 64 bits is plenty for 500 documents


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HOME, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--dev", default="/work/shared/data/redocred/dev_revised.json")
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "TokenizationTests", "Fixtures"))
    a = ap.parse_args()
    tok, plain = load_tokenizer(a.model)
    os.makedirs(a.out, exist_ok=True)
    cases = []
    for t in TEXTS:
        ids = tok.encode(t, add_special_tokens=False)
        case = {"text": t, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
                "decoded": tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)}
        plain_ids = plain.encode(t, add_special_tokens=False)
        if plain_ids != ids:
            case["transformers_gguf_plain_bytelevel_ids"] = plain_ids   # for information only
        cases.append(case)
    chats = []
    for msgs, gen in CHATS:
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        chats.append({"messages": msgs, "add_generation_prompt": gen, "text": text,
                      "ids": tok.encode(text, add_special_tokens=False)})
    with open(os.path.join(a.out, "smollm2_texts.json"), "w") as f:
        json.dump({"model": os.path.basename(a.model),
                   "reference": "transformers AutoTokenizer(gguf_file=...) with the smollm pre-tokeniser (Digits + ByteLevel)",
                   "cases": cases, "chats": chats}, f, ensure_ascii=False, indent=1)
    if os.path.exists(a.dev):
        texts, titles = dev_texts(a.dev)
        rows, total = [], 0
        for text, title in zip(texts, titles):
            ids = tok.encode(text, add_special_tokens=False)
            if ids != plain.encode(text, add_special_tokens=False):
                print(f"note: plain ByteLevel differs on dev document '{title}'")
            total += len(ids)
            rows.append({"title": title, "count": len(ids), "sha256": ids_hash(ids)})
        with open(os.path.join(a.out, "smollm2_redocred_dev_hashes.json"), "w") as f:
            json.dump({"model": os.path.basename(a.model), "documents": len(rows), "total_tokens": total,
                       "text": "sentences' tokens joined by single spaces; first 16 hex digits of sha256 of the ids joined by ','",
                       "rows": rows}, f, ensure_ascii=False, indent=0)
        print(f"dev: {len(rows)} documents, {total} tokens")
    else:
        print(f"no dev file at {a.dev}; skipped the dev hashes", file=sys.stderr)
    print(f"wrote {len(cases)} text cases to {a.out}")
    write_pretokenizer_goldens(a.out)
    if os.path.exists(a.dev):
        write_sentencepiece_goldens(a.out, dev_texts(a.dev)[0])


def write_sentencepiece_goldens(out, corpus):
    """A small SentencePiece BPE model with byte fallback, trained with Llama-2's options on Re-DocRED dev, stored
    as GGUF-style metadata (tokens, scores, token types as llama.cpp's converter writes them) with the ids
    sentencepiece itself gives for the golden texts."""
    import sentencepiece as spm, tempfile
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "corpus.txt"), "w") as f:
            f.write("\n".join(corpus))
        spm.SentencePieceTrainer.train(
            input=os.path.join(tmp, "corpus.txt"), model_prefix=os.path.join(tmp, "sp"), vocab_size=1000,
            model_type="bpe", byte_fallback=True, split_digits=True, add_dummy_prefix=True,
            remove_extra_whitespaces=False, normalization_rule_name="identity", allow_whitespace_only_pieces=True,
            character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, "sp.model"))
    types = []
    for i in range(sp.get_piece_size()):
        types.append(2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i)
                     else 5 if sp.is_unused(i) else 1)
    cases = [{"text": t, "ids": sp.encode(t), "decoded": sp.decode(sp.encode(t))}
             for t in TEXTS + EXTRA if "<s>" not in t and "</s>" not in t]
    with open(os.path.join(out, "sentencepiece_bpe.json"), "w") as f:
        json.dump({"reference": f"sentencepiece {spm.__version__} (BPE, byte_fallback, Llama-2 options)",
                   "tokens": [sp.id_to_piece(i) for i in range(sp.get_piece_size())],
                   "scores": [sp.get_score(i) for i in range(sp.get_piece_size())], "token_type": types,
                   "cases": cases}, f, ensure_ascii=False)


# The split patterns of llama.cpp's byte-level pre-tokenisers (llama-vocab.cpp), applied by the `tokenizers`
# library's regex engine (Split, isolated): the oracle of our hand-written scanners.
PATTERNS = {
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
EXTRA = ["I'M HERE'S THEY'RE we'VE", "x  \n  y", "a\t\tb\r\nc", "!!hello (world) 12345678 ٣٤٥", "  \n\n  end ", "\thi", "?!\n\nok"]


def write_pretokenizer_goldens(out):
    from tokenizers import Regex, pre_tokenizers
    result = {}
    for name, pat in PATTERNS.items():
        split = pre_tokenizers.Split(Regex(pat), behavior="isolated")
        result[name] = {"pattern": pat, "cases": [{"text": t, "pieces": [p for p, _ in split.pre_tokenize_str(t)]}
                                                  for t in TEXTS + EXTRA]}
    with open(os.path.join(out, "pretokenizer_pieces.json"), "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=0)



if __name__ == "__main__":
    main()
