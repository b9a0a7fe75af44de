#!/usr/bin/env python3
"""Reference forward pass of a GGUF `llama` model, in float64, with numpy.

The ground truth for "what the weights say": every weight is dequantized by gguf-py
(`gguf.quants.dequantize`, PyPI gguf 0.19.0) and widened to float64, and every activation stays
float64 (no Q8 activation quantization, no f16 KV cache, no f32 accumulation). Other
implementations (ruvllm, llama.cpp) are compared against its log-probabilities.

It computes what llama.cpp's `llm_build_llama` graph computes, in exact arithmetic:

    x = token_embd[ids]                                       # get_rows, dequantized
    for each block:
        h = rms_norm(x) * attn_norm
        q, k, v = h Wq^T, h Wk^T, h Wv^T                       # rows of W are output features
        q, k = rope(q), rope(k)                                # NORMAL layout: pairs (x0,x1),(x2,x3)...
        a = softmax(q k^T / sqrt(head_dim) + causal mask) v    # grouped-query: q head h reads kv head h // (n_head / n_head_kv)
        x = x + a Wo^T
        h = rms_norm(x) * ffn_norm
        x = x + (silu(h Wgate^T) * (h Wup^T)) Wdown^T
    logits = (rms_norm(x) * output_norm) Wout^T               # Wout = output.weight, else token_embd.weight (tied)

with rms_norm(x) = x / sqrt(mean(x^2) + eps) (eps inside the square root, as ggml_rms_norm).

Every hyper-parameter is read from the GGUF metadata; every tensor in the file must be used (a
tensor this reference does not understand is an error, never silently ignored).

Module use:
    model = load(path)                 # dequantizes everything (~1.1 GB of float64 for SmolLM2-135M)
    logits = forward(model, ids)       # (len(ids), vocab) float64, causal, positions 0..len-1

CLI:
    python3 scripts/oracle/reference_forward.py --tokens 1,2,3 [--top 40] [--model PATH] [--json]
        for every position: the logsumexp of its logits and the top-k next-token ids with their
        float64 log-probabilities
    python3 scripts/oracle/reference_forward.py --prompt "The capital of France is" --generate 30
(--prompt needs the PyPI `tokenizers` package; --tokens needs nothing beyond gguf and numpy.)

numpy's BLAS is limited to one thread unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS are set.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import List, Optional  # noqa: E402

import numpy as np  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# GGUF token types (llama.cpp's llama_token_type).
TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4


# --------------------------------------------------------------------------------------------
# Model: configuration and weights
# --------------------------------------------------------------------------------------------

@dataclass
class Config:
    arch: str
    n_layer: int          # {arch}.block_count
    n_embd: int           # {arch}.embedding_length
    n_ff: int             # {arch}.feed_forward_length
    n_head: int           # {arch}.attention.head_count
    n_head_kv: int        # {arch}.attention.head_count_kv (default: n_head)
    head_dim_k: int       # {arch}.attention.key_length (default: n_embd / n_head)
    head_dim_v: int       # {arch}.attention.value_length (default: n_embd / n_head)
    n_rot: int            # {arch}.rope.dimension_count (default: head_dim_k)
    rope_freq_base: float  # {arch}.rope.freq_base (default 10000)
    rope_freq_scale: float  # 1 / {arch}.rope.scaling.factor for linear scaling, else 1
    rms_eps: float        # {arch}.attention.layer_norm_rms_epsilon (the stored f32, widened)
    kq_scale: float       # {arch}.attention.scale, or 1/sqrt(head_dim_k)
    n_vocab: int          # rows of token_embd.weight
    n_ctx_train: int      # {arch}.context_length


@dataclass
class Block:
    attn_norm: np.ndarray   # (n_embd,)
    wq: np.ndarray          # (n_head * head_dim_k, n_embd)
    wk: np.ndarray          # (n_head_kv * head_dim_k, n_embd)
    wv: np.ndarray          # (n_head_kv * head_dim_v, n_embd)
    wo: np.ndarray          # (n_embd, n_head * head_dim_v)
    ffn_norm: np.ndarray    # (n_embd,)
    w_gate: np.ndarray      # (n_ff, n_embd)
    w_up: np.ndarray        # (n_ff, n_embd)
    w_down: np.ndarray      # (n_embd, n_ff)


@dataclass
class Model:
    path: str
    config: Config
    token_embd: np.ndarray       # (n_vocab, n_embd)
    blocks: List[Block]
    output_norm: np.ndarray      # (n_embd,)
    output: np.ndarray           # (n_vocab, n_embd); the same array as token_embd when tied
    output_tied: bool
    rope_freq_factors: Optional[np.ndarray]  # (n_rot/2,) from rope_freqs.weight, or None
    tokens: List[str]            # tokenizer.ggml.tokens
    token_types: List[int]       # tokenizer.ggml.token_type


def default_model_path():
    """The default model, fetched (and checked) by scripts/fetch_model.py."""
    out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "fetch_model.py")],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def _meta(reader, key, default=None, required=False):
    field = reader.fields.get(key)
    if field is None:
        if required:
            raise KeyError(f"GGUF metadata key {key!r} is missing")
        return default
    return field.contents()


def load(model_path) -> Model:
    reader = GGUFReader(model_path)
    arch = _meta(reader, "general.architecture", required=True)
    if arch != "llama":
        raise ValueError(f"{model_path}: architecture {arch!r}; this reference implements 'llama' only")

    def key(name, default=None, required=False):
        return _meta(reader, f"{arch}.{name}", default, required)

    tensors = {t.name: t for t in reader.tensors}
    used = set()

    def weight(name, shape=None, optional=False):
        t = tensors.get(name)
        if t is None:
            if optional:
                return None
            raise KeyError(f"tensor {name!r} is missing")
        used.add(name)
        # gguf-py gives quantized tensors as raw block bytes in numpy order (rows = ne[1..]),
        # and dequantize() returns float32 of the logical numpy shape; widen exactly to float64.
        w = dequantize(t.data, t.tensor_type).astype(np.float64)
        expected = tuple(int(d) for d in reversed(t.shape.tolist()))  # GGUF dims are ne0-first
        if w.shape != expected:
            w = w.reshape(expected)
        if shape is not None and w.shape != tuple(shape):
            raise ValueError(f"tensor {name!r}: shape {w.shape}, expected {tuple(shape)}")
        return w

    n_embd = int(key("embedding_length", required=True))
    n_head = int(key("attention.head_count", required=True))
    n_head_kv = int(key("attention.head_count_kv", n_head))
    head_dim_k = int(key("attention.key_length", n_embd // n_head))
    head_dim_v = int(key("attention.value_length", n_embd // n_head))
    if n_head % n_head_kv != 0:
        raise ValueError(f"head_count {n_head} is not a multiple of head_count_kv {n_head_kv}")

    # RoPE scaling, as llama.cpp reads it: rope.scaling.factor, else the legacy rope.scale_linear;
    # freq_scale = 1/factor. Only "none" and "linear" are implemented here.
    scaling_type = key("rope.scaling.type", "linear")
    factor = float(key("rope.scaling.factor", 0.0) or 0.0)
    if factor == 0.0:
        factor = float(key("rope.scale_linear", 0.0) or 0.0)
    if scaling_type == "none":
        freq_scale = 1.0
    elif scaling_type == "linear":
        freq_scale = 1.0 if factor == 0.0 else 1.0 / factor
    else:
        raise NotImplementedError(f"rope scaling type {scaling_type!r} is not implemented")
    attn_scale = float(key("attention.scale", 0.0) or 0.0)

    token_embd = weight("token_embd.weight")
    n_vocab = token_embd.shape[0]
    cfg = Config(
        arch=arch,
        n_layer=int(key("block_count", required=True)),
        n_embd=n_embd,
        n_ff=int(key("feed_forward_length", required=True)),
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_dim_k,
        head_dim_v=head_dim_v,
        n_rot=int(key("rope.dimension_count", head_dim_k)),
        rope_freq_base=float(key("rope.freq_base", 10000.0)),
        rope_freq_scale=freq_scale,
        rms_eps=float(key("attention.layer_norm_rms_epsilon", required=True)),
        kq_scale=attn_scale if attn_scale != 0.0 else 1.0 / np.sqrt(head_dim_k),
        n_vocab=n_vocab,
        n_ctx_train=int(key("context_length", 0)),
    )
    if token_embd.shape != (n_vocab, n_embd):
        raise ValueError(f"token_embd.weight: shape {token_embd.shape}")
    vocab_key = key("vocab_size")
    if vocab_key is not None and int(vocab_key) != n_vocab:
        raise ValueError(f"{arch}.vocab_size {vocab_key} != token_embd rows {n_vocab}")
    if cfg.n_rot % 2 or cfg.n_rot > head_dim_k:
        raise ValueError(f"rope.dimension_count {cfg.n_rot} (head dim {head_dim_k})")

    E, F, Hq, Hkv, Dk, Dv = n_embd, cfg.n_ff, n_head, n_head_kv, head_dim_k, head_dim_v
    blocks = []
    for i in range(cfg.n_layer):
        p = f"blk.{i}."
        blocks.append(Block(
            attn_norm=weight(p + "attn_norm.weight", (E,)),
            wq=weight(p + "attn_q.weight", (Hq * Dk, E)),
            wk=weight(p + "attn_k.weight", (Hkv * Dk, E)),
            wv=weight(p + "attn_v.weight", (Hkv * Dv, E)),
            wo=weight(p + "attn_output.weight", (E, Hq * Dv)),
            ffn_norm=weight(p + "ffn_norm.weight", (E,)),
            w_gate=weight(p + "ffn_gate.weight", (F, E)),
            w_up=weight(p + "ffn_up.weight", (F, E)),
            w_down=weight(p + "ffn_down.weight", (E, F)),
        ))
    output_norm = weight("output_norm.weight", (E,))
    output = weight("output.weight", (n_vocab, E), optional=True)
    tied = output is None
    if tied:
        output = token_embd  # llama.cpp: output = token_embd when output.weight is absent
    freq_factors = weight("rope_freqs.weight", (cfg.n_rot // 2,), optional=True)

    unused = sorted(set(tensors) - used)
    if unused:
        raise ValueError(f"tensors this reference does not implement: {unused[:8]}"
                         + (" ..." if len(unused) > 8 else ""))

    return Model(path=model_path, config=cfg, token_embd=token_embd, blocks=blocks,
                 output_norm=output_norm, output=output, output_tied=tied,
                 rope_freq_factors=freq_factors,
                 tokens=list(_meta(reader, "tokenizer.ggml.tokens", [])),
                 token_types=[int(t) for t in _meta(reader, "tokenizer.ggml.token_type", [])])


# --------------------------------------------------------------------------------------------
# The operations
# --------------------------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """ggml_rms_norm then ggml_mul: x / sqrt(mean(x^2) + eps) * weight, over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, positions, cfg: Config, freq_factors=None):
    """Rotary embedding, ggml's NORMAL mode (GGML_ROPE_TYPE_NORMAL, what LLM_ARCH_LLAMA uses).

    x: (T, n_heads, head_dim). For each position p and pair index i < n_rot/2, the ADJACENT
    elements (x[2i], x[2i+1]) are rotated by the angle
        theta = p * freq_scale * freq_base^(-2i/n_rot) / freq_factor[i]
    (ggml: theta_scale = freq_base^(-2/n_dims), theta_i = p * theta_scale^i, rope_yarn with
    ext_factor 0 gives cos/sin(freq_scale * theta), attn_factor 1). Elements past n_rot pass
    through unchanged. NeoX mode would instead pair x[i] with x[i + n_rot/2].
    """
    n_rot = cfg.n_rot
    i = np.arange(n_rot // 2, dtype=np.float64)
    inv_freq = cfg.rope_freq_base ** (-2.0 * i / n_rot)            # (n_rot/2,)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors
    theta = cfg.rope_freq_scale * np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    cos = np.cos(theta)[:, None, :]                                 # (T, 1, n_rot/2)
    sin = np.sin(theta)[:, None, :]
    x0 = x[..., 0:n_rot:2]
    x1 = x[..., 1:n_rot:2]
    out = x.copy()
    out[..., 0:n_rot:2] = x0 * cos - x1 * sin
    out[..., 1:n_rot:2] = x0 * sin + x1 * cos
    return out


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def attention(q, k, v, cfg: Config):
    """Causal multi-head attention with grouped-query KV sharing.

    q: (T, n_head, Dk), k: (T, n_head_kv, Dk), v: (T, n_head_kv, Dv) -> (T, n_head * Dv).
    Query head h reads KV head h // (n_head / n_head_kv): consecutive query heads share a KV
    head (ggml_mul_mat broadcasting over dim 2, HF repeat_kv).
    """
    T = q.shape[0]
    group = cfg.n_head // cfg.n_head_kv
    kv_head = np.arange(cfg.n_head) // group
    k = k[:, kv_head, :]                                   # (T, n_head, Dk)
    v = v[:, kv_head, :]                                   # (T, n_head, Dv)
    scores = np.einsum("qhd,khd->hqk", q, k) * cfg.kq_scale  # (n_head, T, T)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)     # key position > query position
    scores = np.where(future[None, :, :], -np.inf, scores)
    probs = softmax(scores, axis=-1)
    out = np.einsum("hqk,khd->qhd", probs, v)              # (T, n_head, Dv)
    return out.reshape(T, cfg.n_head * cfg.head_dim_v)


def silu(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x < -709 gives the right limit, -0
        return x / (1.0 + np.exp(-x))


def feed_forward(h, blk: Block):
    """SwiGLU: down(silu(gate(h)) * up(h))."""
    return (silu(h @ blk.w_gate.T) * (h @ blk.w_up.T)) @ blk.w_down.T


def forward(model: Model, token_ids) -> np.ndarray:
    """Logits (float64, shape (len(token_ids), n_vocab)) for positions 0..len-1, causal."""
    cfg = model.config
    ids = np.asarray(token_ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError("token_ids must be a non-empty 1-D sequence")
    if ids.min() < 0 or ids.max() >= cfg.n_vocab:
        raise ValueError(f"token id out of range [0, {cfg.n_vocab})")
    T = ids.size
    positions = np.arange(T)

    x = model.token_embd[ids]                                       # (T, n_embd)
    for blk in model.blocks:
        h = rms_norm(x, blk.attn_norm, cfg.rms_eps)
        q = (h @ blk.wq.T).reshape(T, cfg.n_head, cfg.head_dim_k)
        k = (h @ blk.wk.T).reshape(T, cfg.n_head_kv, cfg.head_dim_k)
        v = (h @ blk.wv.T).reshape(T, cfg.n_head_kv, cfg.head_dim_v)
        q = rope(q, positions, cfg, model.rope_freq_factors)
        k = rope(k, positions, cfg, model.rope_freq_factors)
        x = x + attention(q, k, v, cfg) @ blk.wo.T
        h = rms_norm(x, blk.ffn_norm, cfg.rms_eps)
        x = x + feed_forward(h, blk)
    x = rms_norm(x, model.output_norm, cfg.rms_eps)
    return x @ model.output.T                                       # (T, n_vocab)


# --------------------------------------------------------------------------------------------
# Log-probabilities
# --------------------------------------------------------------------------------------------

def logsumexp(logits):
    """Over the last axis, float64."""
    m = np.max(logits, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True)))[..., 0]


def log_softmax(logits):
    return logits - logsumexp(logits)[..., None]


def top_k(logprobs_row, k):
    """The k largest entries of one row: ids by descending value, ties by ascending id."""
    order = np.lexsort((np.arange(logprobs_row.shape[-1]), -logprobs_row))
    return order[:k]


def greedy(model: Model, prompt_ids, n_new, stop_ids=()):
    """Greedy decoding by full re-computation (no KV cache: slow, obviously causal)."""
    ids = list(prompt_ids)
    out = []
    for _ in range(n_new):
        nxt = int(np.argmax(forward(model, ids)[-1]))
        out.append(nxt)
        ids.append(nxt)
        if nxt in stop_ids:
            break
    return out


# --------------------------------------------------------------------------------------------
# Tokens <-> text (for validation only; the forward pass takes ids)
# --------------------------------------------------------------------------------------------

def _gpt2_byte_decoder():
    """Inverse of GPT-2's bytes_to_unicode: the byte-level BPE alphabet back to bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = None


def detokenize(model: Model, ids):
    """gpt2 byte-level decoding; control tokens are rendered as their text."""
    global _BYTE_DECODER
    if _BYTE_DECODER is None:
        _BYTE_DECODER = _gpt2_byte_decoder()
    out = bytearray()
    for i in ids:
        tok = model.tokens[i]
        if model.token_types and model.token_types[i] in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED):
            out += tok.encode("utf-8")
        else:
            out += bytes(_BYTE_DECODER[c] for c in tok)
    return out.decode("utf-8", errors="replace")


def build_tokenizer(model_path):
    """A `tokenizers` BPE tokenizer from the GGUF vocab and merges (tokenizer.ggml.model gpt2).

    Pre-tokenization for tokenizer.ggml.pre == "smollm" (as llama.cpp and HF SmolLM2 do it):
    split every digit on its own, then the GPT-2 byte-level regex, no prefix space.
    Control / user-defined tokens are added as special tokens, so "<|im_start|>" is one id.
    """
    from tokenizers import Tokenizer, AddedToken, decoders, models, pre_tokenizers

    reader = GGUFReader(model_path)
    if _meta(reader, "tokenizer.ggml.model") != "gpt2":
        raise NotImplementedError("only tokenizer.ggml.model gpt2 is implemented")
    pre = _meta(reader, "tokenizer.ggml.pre", "default")
    tokens = list(_meta(reader, "tokenizer.ggml.tokens", required=True))
    types = [int(t) for t in _meta(reader, "tokenizer.ggml.token_type", [1] * len(tokens))]
    merges = [tuple(m.split(" ", 1)) for m in _meta(reader, "tokenizer.ggml.merges", required=True)]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("default", "gpt2"):
        tok.pre_tokenizer = byte_level
    else:
        raise NotImplementedError(f"tokenizer.ggml.pre {pre!r} is not implemented")
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types)
                            if ty in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)])
    add_bos = bool(_meta(reader, "tokenizer.ggml.add_bos_token", False))
    bos = _meta(reader, "tokenizer.ggml.bos_token_id")

    def encode(text):
        ids = tok.encode(text, add_special_tokens=False).ids
        return ([int(bos)] if add_bos and bos is not None else []) + ids

    return encode


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="GGUF file (default: scripts/fetch_model.py's model)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokens", help="comma-separated token ids")
    g.add_argument("--prompt", help="text, tokenized from the GGUF vocab (needs `tokenizers`)")
    ap.add_argument("--top", type=int, default=40, help="top-k per position (default 40)")
    ap.add_argument("--json", action="store_true", help="one JSON object per position")
    ap.add_argument("--generate", type=int, default=0,
                    help="instead of scoring, greedy-decode this many tokens and print them")
    args = ap.parse_args(argv)

    path = args.model or default_model_path()
    model = load(path)
    if args.tokens is not None:
        ids = [int(t) for t in args.tokens.split(",") if t.strip()]
    else:
        ids = build_tokenizer(path)(args.prompt)

    if args.generate:
        eos = {i for i, ty in enumerate(model.token_types) if ty == TOKEN_TYPE_CONTROL}
        new = greedy(model, ids, args.generate, stop_ids=eos)
        print(json.dumps({"prompt_ids": ids, "generated_ids": new,
                          "prompt": detokenize(model, ids), "text": detokenize(model, new)}))
        return

    logits = forward(model, ids)
    lse = logsumexp(logits)
    logp = logits - lse[:, None]
    for pos, tid in enumerate(ids):
        top = top_k(logp[pos], args.top)
        if args.json:
            print(json.dumps({"pos": pos, "token": tid, "logsumexp": float(lse[pos]),
                              "top_ids": [int(i) for i in top],
                              "top_logprobs": [float(logp[pos, i]) for i in top]}))
        else:
            print(f"pos {pos} token {tid} {detokenize(model, [tid])!r}: next token, "
                  f"logsumexp {lse[pos]:.10f}, top {len(top)} (id, log-probability, text):")
            for i in top:
                print(f"  {int(i):6d} {logp[pos, i]: .10f} {detokenize(model, [int(i)])!r}")


if __name__ == "__main__":
    main()
