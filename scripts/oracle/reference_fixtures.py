#!/usr/bin/env python3
"""Writes tests/fixtures/reference/<input-name>.reference.jsonl: the float64 reference
(scripts/oracle/reference_forward.py) scored teacher-forced on given token sequences.

Input: JSONL, one object per line with at least "prompt_ids" and "generated_ids" (e.g.
tests/fixtures/llamacpp/greedy.jsonl, llama.cpp's greedy continuations). For each line the
reference runs once over prompt_ids + generated_ids[:-1] (causal, positions from 0) and, for
every generated step i (the position len(prompt_ids)-1+i, whose next token is
generated_ids[i]), stores:

    pos             the position whose logits these are
    target          generated_ids[i]
    target_logprob  log p(target), float64
    argmax          the reference's most likely id (ties: lowest id)
    logsumexp       log sum exp of the float64 logits at that position
    top_ids         the 40 (--top) most likely ids, by descending log-probability, ties by id
    top_logprobs    their float64 log-probabilities (logit - logsumexp)

Output lines carry the input's scalar fields (str/int/float/bool/null) and its prompt_ids and
generated_ids unchanged, plus "model" (file name), "model_sha256", "top_k" and "steps" (the
list above). Floats are written with Python's repr: they round-trip to the same float64.

    python3 scripts/oracle/reference_fixtures.py tests/fixtures/llamacpp/greedy.jsonl
    python3 scripts/oracle/reference_fixtures.py INPUT.jsonl [--out-dir DIR] [--model GGUF] [--top 40]

Runs on one thread (OPENBLAS_NUM_THREADS=1 unless set): for SmolLM2-135M about 1-2 s per
sequence of ~70-120 tokens, plus ~7 s to load and dequantize the model. Single-threaded runs on
the same machine write byte-identical output.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_forward as rf  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "fixtures", "reference"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def score_record(model, prompt_ids, generated_ids, top):
    """The per-step dicts for one teacher-forced sequence."""
    if not generated_ids:
        return []
    if not prompt_ids:
        raise ValueError("prompt_ids is empty: nothing predicts the first generated token")
    seq = list(prompt_ids) + list(generated_ids[:-1])
    logits = rf.forward(model, seq)
    first = len(prompt_ids) - 1
    steps = []
    for i, target in enumerate(generated_ids):
        pos = first + i
        row = logits[pos]
        lse = float(rf.logsumexp(row))
        logp = row - lse
        ids = rf.top_k(logp, top)
        steps.append({
            "pos": pos,
            "target": int(target),
            "target_logprob": float(logp[target]),
            "argmax": int(ids[0]),
            "logsumexp": lse,
            "top_ids": [int(t) for t in ids],
            "top_logprobs": [float(logp[t]) for t in ids],
        })
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="JSONL with prompt_ids and generated_ids per line")
    ap.add_argument("--out-dir", default=OUT_DIR)
    ap.add_argument("--model", help="GGUF file (default: scripts/fetch_model.py's model)")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)

    path = args.model or rf.default_model_path()
    t0 = time.time()
    model = rf.load(path)
    digest = sha256_file(path)
    print(f"loaded {path} in {time.time() - t0:.1f} s", file=sys.stderr)

    name = os.path.basename(args.input)
    if name.endswith(".jsonl"):
        name = name[: -len(".jsonl")]
    os.makedirs(args.out_dir, exist_ok=True)
    out_path = os.path.join(args.out_dir, f"{name}.reference.jsonl")

    lines = []
    with open(args.input, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            prompt_ids = [int(t) for t in rec["prompt_ids"]]
            generated_ids = [int(t) for t in rec["generated_ids"]]
            t = time.time()
            steps = score_record(model, prompt_ids, generated_ids, args.top)
            out = {k: v for k, v in rec.items()
                   if isinstance(v, (str, int, float, bool)) or v is None}
            out.update({"prompt_ids": prompt_ids, "generated_ids": generated_ids,
                        "model": os.path.basename(path), "model_sha256": digest,
                        "top_k": args.top, "steps": steps})
            lines.append(json.dumps(out, ensure_ascii=False))
            agree = sum(s["argmax"] == s["target"] for s in steps)
            print(f"line {n}: {len(prompt_ids)}+{len(generated_ids)} tokens, "
                  f"argmax == target at {agree}/{len(steps)} steps, {time.time() - t:.2f} s",
                  file=sys.stderr)
    with open(out_path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    print(out_path)


if __name__ == "__main__":
    main()
