#!/usr/bin/env python3
"""Writes the binary and hand-made seed inputs of the fuzz targets into Fuzz/Corpus/<target>/.

Small valid files of each format, written here from the format specs so that they stay tiny: GGUF
(ggml docs/gguf.md), safetensors (huggingface/safetensors README), PEFT adapters (adapter_config.json
as PEFT's save_pretrained writes it). Checkpoint seeds are written by our own writer instead
(fuzz-checkpoint with AUTORE_FUZZ_WRITE_SEED); text seeds are cut from real files: Experiments/ configs,
the shortest Re-DocRED dev documents (DATA, default ../shared/data/redocred), predictions lines and raw
model outputs of Experiments/results/*/predictions_select_0-20.jsonl. Deterministic: tensor values are
0.1 + 2·cos(i + offset), as in ggml's tests.
Run from the repository root: python3 Scripts/make_fuzz_seeds.py [DATA]
"""
import json
import math
import os
import glob
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fuzz", "Corpus")
SEP = b"\n--8<--\n"   # FuzzSupport.fileSeparator: the line between the files of one input


def values(n, offset=0):
    return [0.1 + 2 * math.cos(i + offset) for i in range(n)]


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- GGUF -------------------------------------------------------------------------------------------

def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


# gguf_type: uint8 0, int8 1, uint16 2, int16 3, uint32 4, int32 5, float32 6, bool 7, string 8, array 9,
# uint64 10, int64 11, float64 12
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def gvalue(t, v):
    if t == 8:
        return gstr(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gvalue(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


# ggml_type → (elements per block, bytes per block): F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8,
# Q4_K 12, Q5_K 13, Q6_K 14, BF16 30 (ggml.h; block sizes from ggml-common.h)
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}


def tensor_bytes(t, n, offset):
    if t == 0:
        return struct.pack(f"<{n}f", *values(n, offset))
    if t == 1:
        return struct.pack(f"<{n}e", *values(n, offset))
    if t == 30:
        return b"".join(struct.pack("<f", x)[2:] for x in values(n, offset))
    per, size = BLOCKS[t]
    out = bytearray()
    for b in range(n // per):
        block = bytearray((i * 37 + b * 11 + offset) & 0xFF for i in range(size))
        block[0:2] = struct.pack("<e", 0.01 * (b + 1))      # d: a small finite scale first in every block
        out += block
    return bytes(out)


def gguf(kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims (ne0 first), ggml type)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gvalue(t, v)
    data, infos = b"", b""
    for i, (name, dims, t) in enumerate(tensors):
        n = math.prod(dims)
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", t, len(data))
        data += tensor_bytes(t, n, i)
        data += b"\0" * (-len(data) % alignment)
    out += infos
    out += b"\0" * (-len(out) % alignment)
    return out + data


def byte_level_tokens():
    """GPT-2 bytes_to_unicode, in byte order."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, nxt = [], 256
    for b in range(256):
        if b in keep:
            table.append(chr(b))
        else:
            table.append(chr(nxt))
            nxt += 1
    return table


def make_gguf():
    every_type = [
        ("general.architecture", 8, "llama"), ("general.name", 8, "seed"), ("general.alignment", 4, 32),
        ("u8", 0, 7), ("i8", 1, -7), ("u16", 2, 700), ("i16", 3, -700), ("u32", 4, 70000), ("i32", 5, -70000),
        ("f32", 6, 1e-5), ("bool", 7, True), ("u64", 10, 1 << 40), ("i64", 11, -(1 << 40)), ("f64", 12, 0.125),
        ("strings", 9, (8, ["a", "bc", ""])), ("nested", 9, (9, [(4, [1, 2]), (4, [])])),
        ("llama.context_length", 4, 2048), ("llama.embedding_length", 4, 64), ("llama.block_count", 4, 1),
    ]
    tensors = [(f"blk.0.{name}.weight", [per * (2 if per > 1 else 8), 2], t)
               for name, t in [("f32", 0), ("f16", 1), ("bf16", 30), ("q4_0", 2), ("q4_1", 3), ("q5_0", 6),
                               ("q5_1", 7), ("q8_0", 8)] for per in [BLOCKS[t][0]]]
    put("gguf", "every_type.gguf", gguf(every_type, tensors))
    put("gguf", "k_quants.gguf", gguf([("general.architecture", 8, "llama")],
                                      [("q4_k", [256, 1], 12), ("q5_k", [256, 1], 13), ("q6_k", [256, 2], 14)]))
    put("gguf", "empty.gguf", gguf([], []))
    tokens = byte_level_tokens() + ["Ġt", "he", "Ġthe", "<|im_start|>", "<|im_end|>"]
    types = [1] * (len(tokens) - 2) + [3, 3]
    put("gguf", "gpt2_tokenizer.gguf", gguf([
        ("tokenizer.ggml.model", 8, "gpt2"), ("tokenizer.ggml.pre", 8, "smollm"),
        ("tokenizer.ggml.tokens", 9, (8, tokens)), ("tokenizer.ggml.token_type", 9, (5, types)),
        ("tokenizer.ggml.merges", 9, (8, ["Ġ t", "h e", "Ġt he"])),
        ("tokenizer.ggml.bos_token_id", 4, len(tokens) - 2), ("tokenizer.ggml.eos_token_id", 4, len(tokens) - 1),
        ("tokenizer.chat_template", 8, "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"),
    ], [("token_embd.weight", [4, len(tokens)], 0)]))
    sp = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "▁the", "e", "t", "h", "▁t", "he"]
    put("gguf", "llama_tokenizer.gguf", gguf([
        ("tokenizer.ggml.model", 8, "llama"), ("tokenizer.ggml.tokens", 9, (8, sp)),
        ("tokenizer.ggml.scores", 9, (6, [0.0] * 259 + [-float(i) for i in range(len(sp) - 259)])),
        ("tokenizer.ggml.token_type", 9, (5, [2, 3, 3] + [6] * 256 + [1] * (len(sp) - 259))),
        ("tokenizer.ggml.bos_token_id", 4, 1), ("tokenizer.ggml.eos_token_id", 4, 2),
        ("tokenizer.ggml.unknown_token_id", 4, 0), ("tokenizer.ggml.add_space_prefix", 7, True),
    ], []))


# ---- safetensors ------------------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype F32|F16|BF16, shape)]."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for i, (name, dtype, shape) in enumerate(tensors):
        n = math.prod(shape)
        if dtype == "F32":
            b = struct.pack(f"<{n}f", *values(n, i))
        elif dtype == "F16":
            b = struct.pack(f"<{n}e", *values(n, i))
        else:
            b = b"".join(struct.pack("<f", x)[2:] for x in values(n, i))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def make_safetensors():
    put("safetensors", "single.safetensors", safetensors(
        [("model.embed_tokens.weight", "F32", [4, 3]), ("model.norm.weight", "F16", [3]),
         ("lm_head.weight", "BF16", [4, 3]), ("empty", "F32", [0, 3])], {"format": "pt"}))
    shard1 = safetensors([("model.embed_tokens.weight", "F32", [4, 3])])
    shard2 = safetensors([("model.norm.weight", "BF16", [3]), ("lm_head.weight", "F16", [4, 3])])
    index = json.dumps({"metadata": {"total_size": 90}, "weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "model.norm.weight": "model-00002-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}, indent=2).encode()
    put("safetensors", "sharded.input", index + SEP + shard1 + SEP + shard2)


# ---- PEFT -------------------------------------------------------------------------------------------

def make_peft():
    config = {
        "alpha_pattern": {}, "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "lora_alpha": 4.0, "lora_dropout": 0.05, "modules_to_save": None,
        "peft_type": "LORA", "r": 2, "rank_pattern": {}, "revision": None, "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    tensors = []
    for m in ["q_proj", "v_proj"]:
        p = f"base_model.model.model.layers.0.self_attn.{m}"
        tensors += [(f"{p}.lora_A.weight", "F32", [2, 6]), (f"{p}.lora_B.weight", "F32", [4, 2])]
    weights = safetensors(tensors, {"format": "pt"})
    put("peft", "adapter.input", json.dumps(config, indent=2, sort_keys=True).encode() + SEP + weights)
    config["use_rslora"] = True
    config["target_modules"] = ["q_proj"]
    put("peft", "rslora_bf16.input", json.dumps(config).encode() + SEP + safetensors(
        [("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "BF16", [2, 3]),
         ("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", "F16", [3, 2])]))


# ---- text -------------------------------------------------------------------------------------------

def make_text(data):
    for p in ["quickstart.yaml", "main_rhf.yaml", "ablations/D_F.yaml", "ablations/lora_all_targets.yaml",
              "gemma/gemma_one_r48.yaml", "decoding/main_one_r48_constrained.yaml"]:
        put("config", os.path.basename(p), open(os.path.join("Experiments", p)).read())
    put("config", "quickstart_with_overrides.input", open("Experiments/quickstart.yaml").read().encode() + SEP +
        b"lora.rank=8\nlora.targets=[q_proj,k_proj]\noptimizer.learning_rate=1e-4\ntraining.seed=3\n")
    # sweeps over the fuzz target's own a.yaml and b.yaml
    put("sweep", "configs.yaml", "name: two\nconfigs:\n  - a.yaml\n  - b.yaml\ncompute: a minute\n")
    put("sweep", "grid.yaml", "name: grid\nbase: a.yaml\ngrid: {training.seed: [1, 2], lora.rank: [4, 8]}\n")
    put("sweep", "variants.yaml", "name: variants\nbase: b.yaml\nvariants:\n"
        "  - {lora.rank: 8, lora.targets: [q_proj, k_proj]}\n  - {optimizer.learning_rate: 1.0e-4}\n")
    put("sweep", "both.yaml", "# configs and a grid\nname: both\nconfigs: [a.yaml]\nbase: b.yaml\ngrid:\n  training.seed: [7]\n")
    docs = sorted(json.load(open(os.path.join(data, "dev_revised.json"))), key=lambda d: len(json.dumps(d)))
    for i, d in enumerate(docs[:3]):
        put("document", f"dev_short_{i}.json", json.dumps([d]))
    put("document", "two_docs.json", json.dumps(docs[3:5]))
    # predictions: the fuzz target's two fixed documents ("Lark", "Ode"), then real lines
    lark = {"title": "Lark", "relations": ["country", "inception"], "heads": {"country": ["Paris"], "inception": ["Lark"]},
            "triples": [["Paris", "country", "France"], ["Lark", "inception", "2002"], ["Lark", "country of origin", "France"], ["x", "y"]],
            "raw": {"relations": "country\ninception\n"}, "unparsed": ["???"]}
    ode = {"title": "Ode", "triples": [["Ode", "author", "Ann Lee"], ["Ann Lee", "notable work", "Ode"]]}
    put("predictions", "fixed_titles.jsonl", json.dumps(lark) + "\n" + json.dumps(ode) + "\n\n")
    for name, run, n in [("real_lines.jsonl", "abl_D_R_H_F", 3), ("real_d_f.jsonl", "abl_D_F", 2)]:
        lines = sorted(open(f"Experiments/results/{run}/predictions_select_0-20.jsonl").read().splitlines(), key=len)
        put("predictions", name, "\n".join(lines[:n]) + "\n")
    # raw model outputs per stage: the shortest three, two from the middle, the longest (cut to 2000 characters)
    raws = {"relations": [], "heads": [], "triples": []}
    for f in sorted(glob.glob("Experiments/results/*/predictions_select_0-20.jsonl")):
        for line in open(f).read().splitlines()[:6]:
            for k, v in (json.loads(line).get("raw") or {}).items():
                raws["relations" if k.startswith("relations") else "heads" if k.startswith("heads") else "triples"].append(v)
    for stage, vs in raws.items():
        seen = set()
        vs = sorted((v for v in vs if v.strip() and not (v in seen or seen.add(v))), key=len)
        for i, v in enumerate(vs[:3] + vs[len(vs) // 2:len(vs) // 2 + 2] + vs[-1:]):
            put(f"parse-{stage}", f"real_{i}.input", bytes([i * 7 % 64]) + v[:2000].encode())
    put("parse-triples", "hand_formats.input", bytes([1]) + '1. ["Lark", "country", "France"]\n2) (Paris, capital of, France)\n'
        "- 'Ode' | author | 'Ann Lee'\n* “Lark” “inception” “2002”\nLark, located in the administrative territorial entity, "
        "Paris, France\nnone\n".encode() + SEP + b"Lark is a band from Paris , France .")
    put("parse-heads", "hand_formats.input", bytes([3]) + "\"Lark\"\n- Paris\n2. 'Ode'\n[\"Ann Lee\", \"Ode\"]\nN/A\n".encode())
    put("parse-relations", "hand_formats.input", bytes([8]) + b"1. country\n2) Inception\n- located in the administrative "
        b"territorial entity\n* not a relation\nnone\n")
    # tokenizer: byte 0 picks the tokenizer (>> 2) and flags (bits 0, 1)
    texts = ["Hello world! The theory of relativity.", "<|im_start|>user\nWhich relations?<|im_end|>\n",
             "Ünïcödé — 日本語 テキスト 😀 ﬁ\u0301 \t\r\n  x", '"Lark", "country", "France"\n12345 3.14']
    for i, t in enumerate(texts):
        for flags in [0, 3 + 4 * (i % 4)]:
            put("tokenizer-encode", f"text_{i}_{flags}.input", bytes([flags]) + t.encode())
    ids = lambda xs: b"".join(struct.pack("<i", x) for x in xs)
    put("tokenizer-decode", "ascii.input", bytes([0]) + ids([72, 101, 108, 108, 111, 1, 2, 3, 300]))
    put("tokenizer-decode", "specials.input", bytes([5]) + ids([0, 1, 2, 49151, 49152, -1, 2 ** 31 - 1]))
    put("tokenizer-decode", "raw_ids.input", bytes([10]) + ids([-5, 100000, 3, 4, 262143, 262144]))
    put("tokenizer-decode", "bytes.input", bytes([4]) + ids(range(3, 40)))


if __name__ == "__main__":
    make_gguf()
    make_safetensors()
    make_peft()
    make_text(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/redocred")
