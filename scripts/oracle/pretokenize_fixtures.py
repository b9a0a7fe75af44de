#!/usr/bin/env python3
"""Oracle: llama.cpp's BPE pre-tokenization (the regex split applied before byte-level BPE).

Writes tests/fixtures/pretokenize/splits.jsonl, one JSON object per (pre, text):

    {"pre": "<tokenizer.ggml.pre>", "text": "<input>", "pieces": ["<piece>", ...]}

The pieces come from the PyPI `regex` module (it has \\p{L}, \\p{N} and lookahead), applied with
the fragment semantics of llama.cpp's unicode_regex_split() (src/unicode.cpp):

  * The text starts as ONE fragment.  Each regex of the pre type's list is applied, in order, to
    every current fragment on its own (a fragment boundary is the end of the text for `$` and
    lookaheads such as `(?!\\S)`, and the start of the text for the next regex).
  * A fragment is replaced by the regex's matches AND the non-matching gaps between them, in
    order; nothing is dropped.  Empty pieces are never emitted (so "" gives []).
  * Like llama.cpp, the regexes see every non-ASCII whitespace codepoint (U+0085, U+00A0,
    U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) as U+000B: it still matches
    \s but no literal character range.  Only deepseek-llm (literal non-ASCII ranges) is
    affected; rows where plain regex semantics would split differently also carry
    "plain_regex_pieces" (what a plain regex engine, e.g. HF tokenizers, would give).

With --check-llamacpp every row's "pieces" is compared with the real llama.cpp (below); at the
time of writing all rows agree.

The regex lists are copied verbatim (same C++ string literal text) from llama.cpp
src/llama-vocab.cpp, llm_tokenizer_bpe::llm_tokenizer_bpe(), `regex_exprs` per
LLAMA_VOCAB_PRE_TYPE_*.  They are identical in:
  * ggml-org/llama.cpp src/llama-vocab.cpp @ 00ad355e009e83abf98f96a6ded7193b95763681 (read via
    the code index), and
  * the llama.cpp source bundle shipped by the npm package node-llama-cpp@3.22.1
    (llama.cpp release tag "v0.5.0"; scripts/oracle/llamacpp/node_modules/node-llama-cpp/llama/
    gitRelease.bundle) -- the same llama.cpp the other llama.cpp fixtures use.

    python3 scripts/oracle/pretokenize_fixtures.py                 # rewrites splits.jsonl
    python3 scripts/oracle/pretokenize_fixtures.py --check-llamacpp   # + cross-check vs llama.cpp

--check-llamacpp (optional; needs g++, git, and `npm ci` done in scripts/oracle/llamacpp/):
  1. clones the node-llama-cpp llama.cpp source bundle into a temp dir and checks that the
     regex lists below are exactly the `regex_exprs` of src/llama-vocab.cpp;
  2. compiles a 20-line C++ driver against the prebuilt libllama.v0.5.0.so from
     @node-llama-cpp/linux-x64@3.22.1, calls the real (exported) unicode_regex_split(text,
     regex_exprs, /*byte_encode=*/false) on every (pre, text) and compares with the pieces
     written here.  Any difference is printed and makes the script exit non-zero.
It writes nothing outside a temp dir and never changes the fixture.

See tests/fixtures/pretokenize/README.md for where this matches llama.cpp exactly and why.
"""
import argparse
import ast
import importlib.metadata
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "pretokenize", "splits.jsonl")
NLC = os.path.join(HERE, "llamacpp", "node_modules")
LIB_DIR = os.path.join(NLC, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
LIB_NAME = "libllama.v0.5.0.so"
SRC_BUNDLE = os.path.join(NLC, "node-llama-cpp", "llama", "gitRelease.bundle")

# tokenizer.ggml.pre name -> the LLAMA_VOCAB_PRE_TYPE_* llama_vocab::impl::load() maps it to.
# Note: "gpt-2" (with the dash) is the name llama.cpp accepts; "gpt2" is rejected with
# "unknown pre-tokenizer type".  "llama-bpe" is Llama 3's name (LLAMA_VOCAB_PRE_TYPE_LLAMA3).
PRE_TYPES = {
    "default": "LLAMA_VOCAB_PRE_TYPE_DEFAULT",  # the switch's `default:` branch
    "gpt-2": "LLAMA_VOCAB_PRE_TYPE_GPT2",
    "smollm": "LLAMA_VOCAB_PRE_TYPE_SMOLLM",
    "starcoder": "LLAMA_VOCAB_PRE_TYPE_STARCODER",
    "llama-bpe": "LLAMA_VOCAB_PRE_TYPE_LLAMA3",
    "qwen2": "LLAMA_VOCAB_PRE_TYPE_QWEN2",
    "deepseek-llm": "LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_LLM",
}

# That type's regex_exprs: the C++ string literals pasted verbatim (they use only the escapes
# \\ \r \n, which mean the same in a Python literal), applied in this order.
PRE_REGEXES = {
    "default": [  # LLAMA_VOCAB_PRE_TYPE_DEFAULT
        "[\\p{P}\\$\\+<=>\\^~\\|]+",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "\\p{N}+",
        "[0-9][0-9][0-9]",
    ],
    "gpt-2": [  # LLAMA_VOCAB_PRE_TYPE_GPT2
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    "starcoder": [  # LLAMA_VOCAB_PRE_TYPE_STARCODER
        "\\p{N}",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    "smollm": [  # LLAMA_VOCAB_PRE_TYPE_SMOLLM
        "\\p{N}",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
    "llama-bpe": [  # LLAMA_VOCAB_PRE_TYPE_LLAMA3
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    "qwen2": [  # LLAMA_VOCAB_PRE_TYPE_QWEN2
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
    "deepseek-llm": [  # LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_LLM
        "[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    ],
}

# Test inputs.  Escapes are used for everything invisible or easily confused.
TEXTS = [
    # --- empty / pure whitespace
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\n\n\n",
    "\r\n\r\n",
    " \n \n ",
    "   \n\n   \n",
    "\u000b\u000c vertical tab and form feed",
    # --- whitespace inside / around words
    "Hello world",
    "Hello, world!",
    "  leading",
    "trailing  ",
    "trailing ",
    "trailing tab\t",
    "a\n\n b",
    "a \n b",
    "a  b",
    "a   b   c",
    "x" + " " * 20 + "y",
    "tab\tseparated\t\tvalues",
    "   \t \n  x",
    "line1\nline2\r\nline3\r\n",
    "mixed\r\nCRLF\rand CR",
    "Hello\n\nWorld\n",
    "end with newline\n",
    # --- digits and numbers
    "1234567890",
    "12345678901234567890",
    " 42 apples",
    "3.14159 and 2,718",
    "year 2024, $1,000,000.00",
    "phone: +1-555-0100",
    "The year 1999999 had 12345678 numbers",
    "C3PO and R2D2, x86_64",
    "\u00bd \u00bc \u00b2 \u00b3 \u216b",  # No / No / No / No / Nl
    # --- contractions
    "don't won't I'm you're we've they'll he'd it's",
    "DON'T I'M YOU'RE WE'VE THEY'LL HE'D IT'S",
    "Mixed 'S 'LL 'Ll 'lL 'Re 'vE 'D",
    "'s'start 'tis rock'n'roll",
    "alice's\nBob'S",
    "quotes ''double'' and 'single'",
    # --- punctuation, symbols, code, URLs
    "Wait... what?!?! (yes) [no] {maybe}",
    "!!!???...,,,;;;",
    "a--b__c==d",
    "$x$ and ~tilde~ `code` |pipe| ^caret^ <tag> +plus+",
    'fn main() { println!("hi {}", x + 1); }',
    "def f(x):\n    return x**2  # square\n",
    "if (a<=b && c!=d) { x->y = z[0]; }",
    "    indented code\n\tand tab",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.org",
    "<|im_start|>user\nHi<|im_end|>",
    "math: \u2211(x\u00b2) \u2264 \u221e \u00b1 \u221a2",
    "currency: \u20ac100 \u00a350 \u00a51000 \u20b9500",
    # --- Latin with accents, combining marks
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "cafe\u0301 and nai\u0308ve",  # e + U+0301, i + U+0308 (decomposed)
    "e\u0301\u0301 double combining",
    "\u0301leading combining mark",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00c0\u00c9\u00ce\u00d5\u00dc",
    # --- other scripts
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",  # 你好，世界！
    "\u6211\u559c\u6b22Rust\u7f16\u7a0b123",  # 我喜欢Rust编程123
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u30ab\u30bf\u30ab\u30ca\u3002",
    "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",  # 안녕하세요 세계
    "\ud55c\uad6d\uc5b4123\ud14c\uc2a4\ud2b8",  # 한국어123테스트
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",  # مرحبا بالعالم
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0661\u0662\u0663",  # Arabic-Indic digits
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",  # नमस्ते दुनिया
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u0967\u0968\u0969",  # Devanagari digits
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",  # สวัสดีครับ (Thai)
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",  # Привет, мир!
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b5\u03af\u03bc\u03b5\u03bd\u03b1",
    "Hello\u4e16\u754cWorld",
    "abc\u0430\u0431\u0432123\u03b1\u03b2\u03b3",
    "fullwidth \uff21\uff22\uff23\uff11\uff12\uff13\uff01",
    # --- emoji
    "emoji \U0001f600\U0001f603 test",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",  # ZWJ sequence
    "\U0001f44d\U0001f3fd thumbs",  # skin-tone modifier
    "\U0001f1fa\U0001f1f8\U0001f1eb\U0001f1f7 flags",
    # --- invisible / special spaces / controls
    "zero\u200bwidth\u200cnon\u200djoiner",
    "\ufeffBOM start",
    "nbsp\u00a0here and\u00a0\u00a0two",
    "ideographic\u3000space\u3000",
    "\u4f60\u597d\u3002\u3000\u4e16\u754c",  # 你好。<U+3000>世界
    "\u4e2d\u3000\u6587 \u4e2d\u00a0\u6587",  # 中<U+3000>文 中<NBSP>文
    "\u1680ogham space",
    "x \u2003 y\u2003",  # em space
    "x\u0085y",  # NEL
    "\u2028line sep\u2029para sep",
    "\u180e mongolian vowel separator",
    "ctrl\x00\x01\x1f\x7fchars",
    "bell\x07 and \x1b[31mcolor\x1b[0m",
    "a\x1cb\x1dc\x1ed\x1fe",  # ASCII separators: not \s
    "unassigned\u0378 private\ue000use",
]


def python_pattern(expr):
    """llama.cpp regex (ECMAScript, run by std::regex or a hand-written equivalent) -> `regex`.

    The only construct whose meaning differs between the two engines in these lists is `$`:
    in ECMAScript (no multiline) it matches only at the end of the input; in Python it also
    matches just before a final "\\n".  It is rewritten to `\\Z`.
    """
    if expr.endswith("$") and not expr.endswith("\\$"):
        expr = expr[:-1] + "\\Z"
    return expr


# llama.cpp's whitespace table (src/unicode-data.cpp `unicode_set_whitespace`, generated by
# scripts/gen-unicode-data.py from the Unicode White_Space property).  The non-ASCII ones are
# replaced by U+000B (vertical tab) before any std::regex runs, on both of llama.cpp's regex
# paths (see README): they still match \s, but never a literal character or range.
LLAMACPP_WHITESPACE = [
    0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
]
WS_TO_VT = {c: 0x0B for c in LLAMACPP_WHITESPACE if c >= 0x80}


def split(text, compiled, llamacpp_whitespace=True):
    """unicode_regex_split() semantics: fragments, per-regex, matches + gaps, in order.

    With llamacpp_whitespace, the regexes see non-ASCII whitespace as U+000B (a 1:1 codepoint
    substitution, so offsets are unchanged); the pieces are always cut from the real text.
    """
    fragments = [text]
    for pat in compiled:
        nxt = []
        for frag in fragments:
            seen = frag.translate(WS_TO_VT) if llamacpp_whitespace else frag
            pos = 0
            for m in pat.finditer(seen):
                assert m.end() > m.start(), "empty match"
                if m.start() > pos:
                    nxt.append(frag[pos:m.start()])
                nxt.append(frag[m.start():m.end()])
                pos = m.end()
            if pos < len(frag):
                nxt.append(frag[pos:])
        fragments = nxt
    return fragments


def generate():
    # `regex`'s \s must be exactly llama.cpp's whitespace table for the pieces to be llama.cpp's
    ws = [c for c in range(0x110000) if regex.match(r"\s", chr(c))]
    assert ws == LLAMACPP_WHITESPACE, "regex's \\s differs from llama.cpp's whitespace table"
    rows = []
    for pre, exprs in PRE_REGEXES.items():
        compiled = [regex.compile(python_pattern(e)) for e in exprs]
        for text in TEXTS:
            pieces = split(text, compiled)
            assert "".join(pieces) == text, (pre, text, pieces)
            assert all(pieces), (pre, text, pieces)
            row = {"pre": pre, "text": text, "pieces": pieces}
            plain = split(text, compiled, llamacpp_whitespace=False)
            if plain != pieces:
                row["plain_regex_pieces"] = plain
            rows.append(row)
    return rows


# ------------------------------------------------------------------ optional llama.cpp check

DRIVER_CPP = r"""
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>
// exported by libllama (src/unicode.h)
std::vector<std::string> unicode_regex_split(const std::string & text,
        const std::vector<std::string> & regex_exprs, bool byte_encode);
static bool rd(std::string & s) {
    uint32_t n; if (fread(&n, 4, 1, stdin) != 1) return false;
    s.resize(n); return n == 0 || fread(&s[0], 1, n, stdin) == n;
}
static void wr(const std::string & s) { uint32_t n = s.size(); fwrite(&n, 4, 1, stdout); fwrite(s.data(), 1, n, stdout); }
int main() {
    std::string k;
    while (rd(k)) {
        std::vector<std::string> rx(std::stoul(k));
        for (auto & r : rx) rd(r);
        std::string text; rd(text);
        std::vector<std::string> out;
        try { out = unicode_regex_split(text, rx, false); }
        catch (std::exception & e) { fprintf(stderr, "error: %s\n", e.what()); return 2; }
        wr(std::to_string(out.size()));
        for (auto & o : out) wr(o);
    }
    return 0;
}
"""


def _frame(b):
    return struct.pack("<I", len(b)) + b


def cpp_regex_exprs_from_source(src_text):
    """Parse the regex_exprs string literals per case label out of src/llama-vocab.cpp."""
    start = src_text.index("struct llm_tokenizer_bpe : llm_tokenizer {")
    body = src_text[start:src_text.index("std::vector<std::string> regex_exprs;", start)]

    def exprs_for(label):
        i = body.index(label)
        j = body.index("regex_exprs = {", i)
        k = body.index("};", j)
        lits = [ln.strip().rstrip(",") for ln in body[j:k].split("\n")[1:]]
        # the C++ literals only use \\ \r \n \" escapes: same meaning in a Python literal
        return [ast.literal_eval(lit) for lit in lits if lit.startswith('"')]

    return exprs_for


def check_llamacpp(rows):
    for tool in ("g++", "git"):
        if not shutil.which(tool):
            sys.exit(f"--check-llamacpp needs {tool}")
    if not os.path.exists(os.path.join(LIB_DIR, LIB_NAME)) or not os.path.exists(SRC_BUNDLE):
        sys.exit("--check-llamacpp needs `npm ci` in scripts/oracle/llamacpp/ (node-llama-cpp 3.22.1)")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        # 1. the regex lists are llama.cpp's
        src = os.path.join(tmp, "llama.cpp")
        subprocess.run(["git", "clone", "-q", SRC_BUNDLE, src], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(src, "src", "llama-vocab.cpp"), encoding="utf-8") as f:
            exprs_for = cpp_regex_exprs_from_source(f.read())
        for pre, exprs in PRE_REGEXES.items():
            t = PRE_TYPES[pre]
            got = exprs_for("default:" if t == "LLAMA_VOCAB_PRE_TYPE_DEFAULT" else f"case {t}:")
            if got != exprs:
                failures += 1
                print(f"REGEX MISMATCH {pre}: llama.cpp has {got!r}")
        print(f"regex lists checked against llama.cpp v0.5.0 src/llama-vocab.cpp: "
              f"{'OK' if failures == 0 else 'MISMATCH'}")

        # 2. the splits are llama.cpp's
        drv_src = os.path.join(tmp, "drv.cpp")
        drv = os.path.join(tmp, "drv")
        with open(drv_src, "w") as f:
            f.write(DRIVER_CPP)
        subprocess.run(["g++", "-O1", "-std=c++17", drv_src, "-o", drv, "-L" + LIB_DIR,
                        "-l:" + LIB_NAME, "-Wl,-rpath," + LIB_DIR], check=True)
        req = bytearray()
        for r in rows:
            exprs = PRE_REGEXES[r["pre"]]
            req += _frame(str(len(exprs)).encode())
            for e in exprs:
                req += _frame(e.encode("utf-8"))
            req += _frame(r["text"].encode("utf-8"))
        res = subprocess.run([drv], input=bytes(req), stdout=subprocess.PIPE, check=True).stdout
        off = 0

        def take():
            nonlocal off
            (n,) = struct.unpack_from("<I", res, off)
            off += 4
            b = res[off:off + n]
            off += n
            return b

        diffs = 0
        for r in rows:
            n = int(take())
            got = [take().decode("utf-8") for _ in range(n)]
            if got != r["pieces"]:
                diffs += 1
                print(f"DIFF pre={r['pre']} text={r['text']!r}\n  regex   : {r['pieces']!r}"
                      f"\n  llama.cpp: {got!r}")
        assert off == len(res)
        print(f"{len(rows)} (pre, text) pairs run through llama.cpp v0.5.0 unicode_regex_split: "
              f"{diffs} differ")
        failures += diffs
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-llamacpp", action="store_true",
                    help="also compare with the real llama.cpp (see module docstring)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    rows = generate()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    print(f"wrote {len(rows)} rows ({len(PRE_REGEXES)} pre types x {len(TEXTS)} texts) to "
          f"{os.path.relpath(args.out, ROOT)} with regex {importlib.metadata.version('regex')}")
    if args.check_llamacpp and check_llamacpp(rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
