#!/usr/bin/env python3
"""Oracle for the SentencePiece-style tokenizer (`tokenizer.ggml.model = llama`), judged by llama.cpp.

The default model uses the gpt2 tokenizer, so this script makes its own SPM model and asks
llama.cpp how it tokenizes:

1. Writes tests/fixtures/spm/tiny-spm.gguf with gguf-py (PyPI gguf 0.19.0) + numpy: a tiny but
   complete llama-architecture model (1 block, embedding 32, FFN 64, 4 heads, 4 KV heads, context
   128, F32 weights from a seeded RNG, output head tied to token_embd) whose vocabulary is
   SentencePiece style:

     0 <unk> (unknown), 1 <s> (control, BOS), 2 </s> (control, EOS), 3..258 <0x00>..<0xFF> (byte),
     then normal pieces: the merges of a small BPE trained here, deterministically, on CORPUS
     (score = -merge rank, so earlier = more frequent = higher), then the single characters
     (scores below every merge), then EXTRA_PIECES with hand-set scores (space runs, two pieces
     with EQUAL scores to pin the tie rule), then <unused0> (unused), <|im_start|> and <|im_end|>
     (control) and <br> (user-defined).

   add_bos_token true, add_eos_token false, add_space_prefix true (llama.cpp's defaults for SPM).
   The same inputs always give the same bytes.

2. Runs llama.cpp on it twice over, both times the prebuilt libllama that node-llama-cpp 3.22.1
   ships (scripts/oracle/llamacpp/node_modules, installed by scripts/oracle/llamacpp/regenerate.sh):
   * scripts/oracle/spm_fixtures.mjs (node-llama-cpp) for add_special=false: ids, ids_special and
     their detokenizations, exactly as scripts/oracle/llamacpp/fixtures.mjs does for the default
     model;
   * ctypes on the same libllama.v0.5.0.so (node-llama-cpp cannot pass add_special=true) for
     ids_bos / ids_bos_special (add_special=true), their detokenizations, and llama_token_to_piece
     of every vocabulary entry. The ctypes add_special=false results must equal node's.

3. Writes tests/fixtures/spm/tokenize.jsonl and tests/fixtures/spm/pieces.jsonl (formats in
   tests/fixtures/spm/README.md).

    python3 scripts/oracle/spm_fixtures.py
"""
import ctypes
import json
import os
import re
import subprocess
import sys
from collections import Counter

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType, LlamaFileType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "spm")
MODEL = os.path.join(OUT_DIR, "tiny-spm.gguf")
LIBDIR = os.path.join(HERE, "llamacpp", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")

SP = "\u2581"  # ▁, SentencePiece's space

# ---------------------------------------------------------------- vocabulary
# Training text for the toy BPE (written for this file). Its words, their frequencies and the few
# non-English words decide which pieces exist; everything else (emoji, most CJK, Korean, Arabic,
# several ASCII symbols) has no piece and must fall back to <0xNN> bytes.
CORPUS = """
The tokenizer reads the text and turns it into pieces. The pieces are the words and the parts of
words that the model knows. When the model sees a word it has never seen, it breaks the word into
smaller pieces, and when even a single character is missing it falls back to the bytes of that
character. This is the way that most of the older open models work, and it is the way that this
small model works too.
Once upon a time there was a little house at the end of the road. In the house there lived an old
man and his daughter. Every morning the man would walk to the river and every evening he would
come back with water, wood and a story. The daughter listened to the stories and wrote them down
in a book. She wanted to remember all of them, the good ones and the strange ones, the happy ones
and the sad ones.
What is the capital of France? The capital of France is Paris. What is the capital of Germany?
It is Berlin. Where is Tokyo? Tokyo is in Japan. How many people live there? Many, many people.
Hello world! Hello again, world. Good morning, good evening and good night. Thank you for reading
this, and thank you for your time. I think that we should start the meeting now, because the
others are waiting for us and they have been waiting for a long time.
He said that he would not go, but she said that he should. They didn't know what to do. It's not
easy, isn't it? We're here, you're there, and they're everywhere. I'm sure that I'll be there.
The numbers are 1 2 3 4 5 6 7 8 9 0 and 10, 20, 30, 100, 2024, 3.14 and 1,000.
Some people like coffee in the morning; some like tea (with milk) and some like neither.
A café in the city sells a naïve pâté, a crème brûlée and a résumé of the day's news. The señor
from España ordered jalapeño. Über alles: schön, Straße, Mädchen, Köln, Zürich, Ärger, Öl.
東京は日本の首都です。日本語を話します。日本の人口は多いです。東京と大阪。
Programming: def main(): return x + y * z - 1 / 2 = 0 # comment. if (a < b) { print("ok"); }
The quick brown fox jumps over the lazy dog. The five boxing wizards jump quickly.
Sphinx of black quartz, judge my vow. Pack my box with five dozen liquor jugs.
Running, jumping, swimming, reading, writing, thinking, talking, walking, singing, working.
The teacher and the students, the players and the teams, the workers and the owners.
Information, education, nation, station, question, action, attention, relation, situation.
"""
N_MERGES = 420

# Normal pieces with hand-set scores, added after the trained ones (skipped if training already
# made them). "xy" and "yz" have EQUAL scores: in "xyz" llama.cpp merges the leftmost pair.
EXTRA_PIECES = [
    (SP + SP, -1.5),
    (SP + SP + SP + SP, -2.5),
    (SP + SP + SP + SP + SP + SP + SP + SP, -3.5),
    ("xy", -7.25),
    ("yz", -7.25),
    ("...", -60.0),
    ("..", -59.0),
    ("!!", -61.0),
]
# Characters that get a piece even if the corpus lacks them.
REQUIRED_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                  ".,!?;:'\"()[]{}-_/*+=#<>@&%$" + SP)
# Characters that must NOT get a piece (they test byte fallback), even though the corpus has some.
FORBIDDEN_CHARS = set("|~`^\\")

SPECIAL_TAIL = [
    ("<unused0>", 5),     # unused: never matched in text, prints nothing
    ("<|im_start|>", 3),  # control
    ("<|im_end|>", 3),    # control
    ("<br>", 4),          # user-defined: matched in text even without parse_special
]


def pretokenize(corpus):
    """SentencePiece-like training split: whitespace, then letter runs / single digits / single
    other characters; the first piece of each word carries the ▁."""
    words = Counter()
    for word in corpus.split():
        parts = re.findall(r"[^\W\d_]+|\d|[^\w\s]|_", word)
        for i, p in enumerate(parts):
            words[(SP + p) if i == 0 else p] += 1
    return words


def train_bpe(words, n_merges):
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, n in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        # most frequent; ties by the merged text, then the pair (deterministic)
        (a, b), n = min(pairs.items(), key=lambda kv: (-kv[1], kv[0][0] + kv[0][1], kv[0]))
        if n < 2:
            break
        merged = a + b
        merges.append(merged)
        for w, s in seqs.items():
            i, out = 0, []
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def build_vocab():
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    scores = [0.0] * len(tokens)
    types = [2, 3, 3] + [6] * 256
    words = pretokenize(CORPUS)
    merges = [m for m in train_bpe(words, N_MERGES) if not (set(m) & FORBIDDEN_CHARS)]
    seen = set(tokens)
    for rank, m in enumerate(merges):
        if m in seen:
            continue
        seen.add(m)
        tokens.append(m)
        scores.append(float(-rank))
        types.append(1)
    char_count = Counter()
    for w, n in words.items():
        for c in w:
            char_count[c] += n
    for c in REQUIRED_CHARS:
        char_count.setdefault(c, 0)
    chars = sorted((c for c in char_count if c not in FORBIDDEN_CHARS), key=lambda c: (-char_count[c], ord(c)))
    base = -float(len(merges) + 10)
    for k, c in enumerate(chars):
        if c in seen:
            continue
        seen.add(c)
        tokens.append(c)
        scores.append(base - k)
        types.append(1)
    for piece, score in EXTRA_PIECES:
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        scores.append(score)
        types.append(1)
    for text, ty in SPECIAL_TAIL:
        assert text not in seen, text
        seen.add(text)
        tokens.append(text)
        scores.append(0.0)
        types.append(ty)
    assert len(set(tokens)) == len(tokens)
    return tokens, scores, types


# ---------------------------------------------------------------- model
N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_CTX, N_LAYER = 32, 64, 4, 4, 128, 1


def write_gguf(path, tokens, scores, types):
    rng = np.random.default_rng(20240601)
    w = GGUFWriter(path, "llama")
    w.add_name("ruvllm tiny spm")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)

    def t(name, *shape, ones=False):
        # numpy shape = ggml ne reversed: {n_embd, n_vocab} in llama.cpp is (n_vocab, n_embd) here
        a = np.ones(shape, np.float32) if ones else (rng.standard_normal(shape) * 0.02).astype(np.float32)
        w.add_tensor(name, a, raw_dtype=GGMLQuantizationType.F32)

    n_vocab = len(tokens)
    t("token_embd.weight", n_vocab, N_EMBD)  # also the output head (no output.weight: tied)
    t("output_norm.weight", N_EMBD, ones=True)
    head_dim = N_EMBD // N_HEAD
    for i in range(N_LAYER):
        t(f"blk.{i}.attn_norm.weight", N_EMBD, ones=True)
        t(f"blk.{i}.attn_q.weight", N_HEAD * head_dim, N_EMBD)
        t(f"blk.{i}.attn_k.weight", N_HEAD_KV * head_dim, N_EMBD)
        t(f"blk.{i}.attn_v.weight", N_HEAD_KV * head_dim, N_EMBD)
        t(f"blk.{i}.attn_output.weight", N_EMBD, N_HEAD * head_dim)
        t(f"blk.{i}.ffn_norm.weight", N_EMBD, ones=True)
        t(f"blk.{i}.ffn_gate.weight", N_FF, N_EMBD)
        t(f"blk.{i}.ffn_up.weight", N_FF, N_EMBD)
        t(f"blk.{i}.ffn_down.weight", N_EMBD, N_FF)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- cases
CASES = [
    ("empty", ""),
    ("space", " "),
    ("two_spaces", "  "),
    ("five_spaces", "     "),
    ("nine_spaces_word", "         x"),
    ("word", "hello"),
    ("word_leading_space", " hello"),
    ("word_trailing_space", "hello "),
    ("spaces_around", "  hello  world  "),
    ("sentence", "The quick brown fox jumps over the lazy dog."),
    ("capitals", "Hello World HELLO"),
    ("the_cases", "The the THE tHe"),
    ("newline", "\n"),
    ("lines", "line one\nline two\n\nend"),
    ("crlf_tab", "a\r\nb\tc"),
    ("tab_space", "\t tab"),
    ("digits", "12345 67890"),
    ("numbers", "3.14159 and 1,000,000 and 2024-01-01"),
    ("punctuation", "Hello, world! How are you? (fine) [ok] {yes}"),
    ("ellipsis", "Wait... what?! Really!!"),
    ("symbols_no_piece", "a|b~c`d^e\\f"),
    ("contractions", "don't won't it's I'm we're they'll"),
    ("quotes", "\"quoted\" and 'single'"),
    ("accents", "café résumé naïve crème brûlée"),
    ("german", "Über schön Straße Mädchen Zürich"),
    ("combining", "e\u0301 a\u0300"),
    ("cjk_in_vocab", "日本語を話します"),
    ("cjk_not_in_vocab", "漢字テスト"),
    ("korean", "안녕하세요"),
    ("arabic", "مرحبا"),
    ("emoji", "😀"),
    ("emoji_zwj", "👩‍💻 and 🇫🇷"),
    ("emoji_in_text", "Hello 🌍 world"),
    ("nul_and_controls", "a\x00b\x01c\x7f"),
    ("nbsp", "a\u00a0b"),
    ("sp_char_literal", SP + "hello " + SP + SP + "x"),
    ("byte_token_text", "<0x41> <0x0A>"),
    ("tie_xyz", "xyz"),
    ("tie_xyz_word", "axyzb xyz"),
    ("long_word", "supercalifragilisticexpialidocious"),
    ("repeated", "aaaaaaaaaaaaaaaa"),
    ("code", "def main():\n    return x + y * z\n"),
    ("im_start", "<|im_start|>"),
    ("chat", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"),
    ("chat_spaces", " <|im_start|> user <|im_end|> "),
    ("im_adjacent", "<|im_start|><|im_end|>"),
    ("im_lookalike", "<|im_start <|IM_END|> <im_start>"),
    ("bos_text", "<s>"),
    ("bos_text_word", "<s>Hello"),
    ("eos_text_word", "Hello</s>"),
    ("unk_text", "<unk> x"),
    ("unused_text", "<unused0>"),
    ("user_defined", "<br>"),
    ("user_defined_in_text", "line<br>break"),
    ("user_defined_spaces", "a <br> b"),
    ("user_defined_twice", "<br><br>x"),
    ("mixed_special", "<s><br><|im_end|>end"),
]


# ---------------------------------------------------------------- llama.cpp through ctypes
class LlamaModelParams(ctypes.Structure):
    # Opaque: llama_model_params is 80 bytes in this build (include/llama.h of the bundled source);
    # a larger buffer is harmless both as the returned value and as the by-value argument (x86-64
    # passes structs over 16 bytes in memory). The layout is checked below through known defaults.
    _fields_ = [("raw", ctypes.c_uint8 * 256)]


class Llama:
    def __init__(self, model_path):
        lib = ctypes.CDLL(os.path.join(LIBDIR, "libllama.v0.5.0.so"))
        self.lib = lib
        log_cb = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
        self._quiet = log_cb(lambda level, text, ud: None)
        lib.llama_log_set(self._quiet, None)
        lib.llama_backend_init()
        lib.llama_model_default_params.restype = LlamaModelParams
        params = lib.llama_model_default_params()
        raw = bytes(params.raw)
        # n_gpu_layers = -1 at 16, split_mode LAYER (1) at 20, use_extra_bufts true at 74
        if raw[16:24] != b"\xff\xff\xff\xff\x01\x00\x00\x00" or raw[72:78] != b"\x00\x00\x01\x00\x00\x00":
            raise RuntimeError("llama_model_params layout is not the expected one")
        params.raw[72] = 1  # vocab_only
        lib.llama_model_load_from_file.argtypes = [ctypes.c_char_p, LlamaModelParams]
        lib.llama_model_load_from_file.restype = ctypes.c_void_p
        self.model = lib.llama_model_load_from_file(model_path.encode(), params)
        if not self.model:
            raise RuntimeError("llama.cpp could not load the model")
        lib.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
        lib.llama_model_get_vocab.restype = ctypes.c_void_p
        self.vocab = lib.llama_model_get_vocab(self.model)
        lib.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                       ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
        lib.llama_tokenize.restype = ctypes.c_int32
        lib.llama_detokenize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32,
                                         ctypes.c_char_p, ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
        lib.llama_detokenize.restype = ctypes.c_int32
        lib.llama_token_to_piece.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32,
                                             ctypes.c_int32, ctypes.c_bool]
        lib.llama_token_to_piece.restype = ctypes.c_int32
        lib.llama_vocab_n_tokens.argtypes = [ctypes.c_void_p]
        lib.llama_vocab_n_tokens.restype = ctypes.c_int32
        lib.llama_model_free.argtypes = [ctypes.c_void_p]

    def n_tokens(self):
        return self.lib.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, text, add_special, parse_special):
        b = text.encode("utf-8")
        cap = len(b) + 8
        buf = (ctypes.c_int32 * cap)()
        n = self.lib.llama_tokenize(self.vocab, b, len(b), buf, cap, add_special, parse_special)
        if n < 0:
            raise RuntimeError(f"llama_tokenize: {n}")
        return list(buf[:n])

    def detokenize(self, ids, remove_special, unparse_special):
        arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
        cap = 64 + 32 * len(ids)
        buf = ctypes.create_string_buffer(cap)
        n = self.lib.llama_detokenize(self.vocab, arr, len(ids), buf, cap, remove_special, unparse_special)
        if n < 0:
            raise RuntimeError(f"llama_detokenize: {n}")
        return buf.raw[:n]

    def piece(self, token, special):
        buf = ctypes.create_string_buffer(256)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 256, 0, special)
        if n < 0:
            raise RuntimeError(f"llama_token_to_piece: {n}")
        return buf.raw[:n]

    def close(self):
        self.lib.llama_model_free(self.model)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    tokens, scores, types = build_vocab()
    write_gguf(MODEL, tokens, scores, types)
    size = os.path.getsize(MODEL)
    print(f"{os.path.relpath(MODEL, ROOT)}: {len(tokens)} tokens, {size} bytes", file=sys.stderr)
    assert size < 200_000

    cases = [{"name": n, "text": t} for n, t in CASES]
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    proc = subprocess.run(["node", os.path.join(HERE, "spm_fixtures.mjs"), MODEL], input=json.dumps(cases),
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"spm_fixtures.mjs failed ({proc.returncode})")
    node_lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    meta = node_lines.pop()["meta"]
    assert len(node_lines) == len(cases)
    assert (meta["bos"], meta["eos"], meta["should_prepend_bos"]) == (1, 2, True), meta

    llama = Llama(MODEL)
    assert llama.n_tokens() == len(tokens)
    lines = []
    for case, rec in zip(cases, node_lines):
        assert rec["name"] == case["name"] and rec["text"] == case["text"]
        text = case["text"]
        # the two drivers of the same library must agree
        assert llama.tokenize(text, False, False) == rec["ids"], case["name"]
        assert llama.tokenize(text, False, True) == rec["ids_special"], case["name"]
        for key, ids, unparse in [("detok", rec["ids"], False), ("detok_special", rec["ids_special"], True),
                                  ("detok_special_skip", rec["ids_special"], False)]:
            assert llama.detokenize(ids, False, unparse).decode("utf-8", "replace") == rec[key], (case["name"], key)
        ids_bos = llama.tokenize(text, True, False)
        ids_bos_special = llama.tokenize(text, True, True)
        rec.update({
            "ids_bos": ids_bos,
            "detok_bos": llama.detokenize(ids_bos, False, False).decode("utf-8", "replace"),
            "ids_bos_special": ids_bos_special,
            "detok_bos_special": llama.detokenize(ids_bos_special, False, True).decode("utf-8", "replace"),
            "detok_bos_special_skip": llama.detokenize(ids_bos_special, False, False).decode("utf-8", "replace"),
        })
        lines.append(json.dumps(rec, ensure_ascii=False))
    pieces = []
    for i, text in enumerate(tokens):
        pieces.append(json.dumps({
            "id": i,
            "text": text,
            "type": types[i],
            "score": scores[i],
            "piece_hex": llama.piece(i, False).hex(),
            "piece_special_hex": llama.piece(i, True).hex(),
        }, ensure_ascii=False))
    llama.close()

    with open(os.path.join(OUT_DIR, "tokenize.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(OUT_DIR, "pieces.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(pieces) + "\n")
    with open(os.path.join(OUT_DIR, "meta.json"), "w", encoding="utf-8") as f:
        json.dump({
            "generator": "scripts/oracle/spm_fixtures.py (+ scripts/oracle/spm_fixtures.mjs)",
            **meta,
            "ctypes_library": "libllama.v0.5.0.so from " + os.path.relpath(LIBDIR, ROOT),
            "model_file": os.path.relpath(MODEL, ROOT),
            "model_bytes": size,
            "vocab_size": len(tokens),
            "n_cases": len(lines),
        }, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"{len(lines)} cases, {len(pieces)} pieces written to {os.path.relpath(OUT_DIR, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
