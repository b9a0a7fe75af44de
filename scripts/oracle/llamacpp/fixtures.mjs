// Oracle: runs llama.cpp (the prebuilt CPU binary shipped by the npm package
// @node-llama-cpp/linux-x64, driven through node-llama-cpp) on the default model and writes
// tests/fixtures/llamacpp/{tokenize.jsonl,greedy.jsonl,perplexity.json,meta.json}.
//
//   bash scripts/oracle/llamacpp/regenerate.sh   (installs the pinned packages if missing, then runs this)
//
// Options (all optional; without them: the default model into tests/fixtures/llamacpp/):
//   --model PATH               another GGUF (default: scripts/fetch_model.py's model)
//   --out DIR                  where to write (default: tests/fixtures/llamacpp)
//   --no-tokenize              do not write tokenize.jsonl (tokenization does not depend on the
//                              weight type of a requantized file)
//   --quantized-from PATH      the file --model was requantized from (its name and SHA-256 go
//                              into meta.json)
//   --quantize-command CMD     the exact command that produced --model (into meta.json)
// scripts/oracle/llamacpp/requantized.sh uses them for the requantized models in
// tests/fixtures/llamacpp/<type>/. The text for perplexity is always
// tests/fixtures/llamacpp/alice_ch1-2.txt.
//
// Never builds llama.cpp and never downloads anything: getLlama({build: "never", skipDownload:
// true, usePrebuiltBinaries: true, gpu: false}) and NODE_LLAMA_CPP_SKIP_DOWNLOAD=true.
// One thread, CPU only, flash attention off, f16 KV cache: deterministic run to run on one machine.
// See tests/fixtures/llamacpp/README.md for the formats.

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const { getLlama, LlamaLogLevel, JinjaTemplateChatWrapper, GgmlType } = await import("node-llama-cpp");
const { Template } = await import("@huggingface/jinja");

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const { values: opts } = parseArgs({
    options: {
        model: { type: "string" },
        out: { type: "string" },
        "no-tokenize": { type: "boolean", default: false },
        "quantized-from": { type: "string" },
        "quantize-command": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
});
const fixturesDir = join(root, "tests", "fixtures", "llamacpp");
const outDir = opts.out !== undefined ? resolve(opts.out) : fixturesDir;
const textPath = join(fixturesDir, "alice_ch1-2.txt");
const TEXT_SHA256 = "85a98a9be73091d18252d09176a9795a1e5f791622b325949662a1d18d0b57c9";
const MODEL_SHA256_EXPECTED = process.env.RUVLLM_MODEL_SHA256 ?? null;

const N_CTX = 512; // context for every evaluation; perplexity chunk length
const TOP_K = 50; // top-k entries stored per greedy step
const N_GEN = 64; // greedy tokens per prompt
const MARGIN_WINDOW = 32; // steps checked for the "stable" flag
const MARGIN_MIN = 0.3;

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const t0 = Date.now();
const log = (...a) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

// ---------------------------------------------------------------- llama.cpp setup
const modelPath = opts.model !== undefined
    ? resolve(opts.model)
    : execFileSync("python3", [join(root, "scripts", "fetch_model.py")], { encoding: "utf8" }).trim();
const modelBytes = readFileSync(modelPath);
const modelSha256 = sha256(modelBytes);
if (MODEL_SHA256_EXPECTED && modelSha256 !== MODEL_SHA256_EXPECTED) throw new Error(`model SHA-256 ${modelSha256}`);

const logLines = [];
const llama = await getLlama({
    build: "never",
    gpu: false,
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: 1,
    logLevel: LlamaLogLevel.debug,
    logger(level, message) {
        logLines.push(message);
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`[llama.cpp ${level}] ${message}`);
    },
});
if (llama.gpu !== false) throw new Error(`expected CPU only, got gpu=${llama.gpu}`);
if (llama.buildType !== "prebuilt") throw new Error(`expected the prebuilt binary, got ${llama.buildType}`);

const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
if (model.tokens.shouldPrependBosToken !== false) throw new Error("expected add_bos_token = false for this model");

const cpuBackend = (logLines.join("\n").match(/loaded CPU backend from \S*\/(libggml-cpu-[\w-]+\.so)/) ?? [])[1] ?? null;

async function newContext() {
    const context = await model.createContext({
        contextSize: N_CTX,
        batchSize: N_CTX,
        sequences: 1,
        threads: 1,
        flashAttention: false,
    });
    if (context.contextSize !== N_CTX) throw new Error(`context size ${context.contextSize} != ${N_CTX}`);
    return context;
}

// Full-vocabulary logits of the next token after evaluating `tokens` (the logits map from
// node-llama-cpp comes straight from llama_get_logits_ith: the sampler chain is greedy only,
// which selects and does not change any logit).
const GREEDY_NEXT = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };

function analyse(logitsMap, chosen) {
    if (logitsMap.size !== vocabSize) throw new Error(`got ${logitsMap.size} logits, vocab ${vocabSize}`);
    const entries = Array.from(logitsMap.entries());
    // canonical order: logit descending, then token id ascending
    entries.sort((a, b) => (b[1] - a[1]) || (a[0] - b[0]));
    const max = entries[0][1];
    let sum = 0;
    for (const [, l] of entries) sum += Math.exp(l - max);
    const logsumexp = max + Math.log(sum);
    if (chosen !== undefined && chosen !== entries[0][0]) throw new Error(`greedy chose ${chosen}, argmax is ${entries[0][0]}`);
    return { entries, logsumexp, margin: entries[0][1] - entries[1][1] };
}

// ---------------------------------------------------------------- 1. tokenizer
const LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis";
const TOKENIZE_CASES = [
    ["empty", ""],
    ["space", " "],
    ["two_spaces", "  "],
    ["many_spaces", "          "],
    ["tab", "\t"],
    ["tabs", "\t\t\t"],
    ["mixed_ws", " \t \t  \t"],
    ["newline", "\n"],
    ["crlf", "\r\n"],
    ["three_newlines", "\n\n\n"],
    ["cr_only", "a\rb"],
    ["ws_before_newline", "line one   \nline two\t\n"],
    ["leading_space_word", " hello"],
    ["leading_spaces_word", "   hello"],
    ["trailing_space", "hello "],
    ["trailing_spaces", "hello   "],
    ["inner_space_runs", "hello  world   again    end"],
    ["sentence", "Hello world! How are you today?"],
    ["sentence_newlines", "First line.\nSecond line.\r\nThird line.\n\n\nFourth."],
    ["digits_single", "0 1 2 3 4 5 6 7 8 9"],
    ["digits_run", "1234567890"],
    ["long_number", "31415926535897932384626433832795028841971"],
    ["decimal", "3.14159"],
    ["thousands", "1,000,000"],
    ["numbers_mixed", "Pay $1,234.56 by 2024-03-15 at 10:30am (+7.5%), ref #A1B2C3."],
    ["numbers_no_space", "abc123def4567ghi"],
    ["contractions_lower", "it's don't they're we've I'm you'll he'd"],
    ["contractions_upper", "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D"],
    ["contractions_mixed", "It'S dOn'T They'Re"],
    ["apostrophes", "'s 't 're 've 'm 'll 'd 'x ''"],
    ["curly_quotes", "\u2018single\u2019 \u201cdouble\u201d it\u2019s"],
    ["punct_run", "!!!???...,,,;;;:::"],
    ["punct_mixed", "Wait... what?! (Really?) [yes] {no} <maybe> -- ok; fine: done."],
    ["ellipsis_dashes", "a\u2026b \u2014 c \u2013 d"],
    ["symbols", "@#$%^&*()_+-=[]{}|\\:\";'<>?,./~`"],
    ["python", "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n\nprint(add(2, 3))\n"],
    ["rust", "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!(\"{:?}\", v);\n}\n"],
    ["json", "{\"name\": \"SmolLM\", \"layers\": 30, \"tied\": true, \"list\": [1, 2.5, null]}"],
    ["html", "<!DOCTYPE html>\n<html><body><p class=\"x\">Hi &amp; bye</p></body></html>"],
    ["indent_code", "if x:\n\tif y:\n\t\treturn 1\n        else:\n            pass"],
    ["url_email", "See https://example.com/path?q=1&r=2#frag or mail me@example.org."],
    ["accents", "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m r\u00e9sum\u00e9 fa\u00e7ade"],
    ["accents_decomposed", "cafe\u0301 nai\u0308ve A\u030angstro\u0308m"],
    ["german", "Stra\u00dfe \u00dcbergr\u00f6\u00dfentr\u00e4ger \u00e4\u00f6\u00fc\u00c4\u00d6\u00dc"],
    ["greek_cyrillic", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u043f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440"],
    ["cjk_chinese", "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u559c\u6b22\u673a\u5668\u5b66\u4e60\u3002"],
    ["cjk_japanese", "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca\u3082\u3002"],
    ["korean", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4"],
    ["arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645"],
    ["hindi", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"],
    ["thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01"],
    ["emoji", "I \u2764\ufe0f llamas \ud83e\udd99\ud83d\udd25\ud83d\ude00"],
    ["emoji_zwj_family", "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66"],
    ["emoji_rainbow_flag", "\ud83c\udff3\ufe0f\u200d\ud83c\udf08"],
    ["emoji_skin_tone_flags", "\ud83d\udc4d\ud83c\udffd \ud83c\uddfa\ud83c\uddf8\ud83c\uddef\ud83c\uddf5"],
    ["zero_width", "a\u200bb\u200cc\u200dd\ufeffe"],
    ["nbsp_and_ideographic_space", "a\u00a0b\u3000c\u2009d"],
    ["control_chars", "a\u0000b\u0001c\u000bd\u000ce\u007f"],
    ["math_symbols", "\u2200x\u2208\u211d: x\u00b2 \u2265 0, \u221a2 \u2248 1.414, \u03c0r\u00b2"],
    ["special_im_start", "<|im_start|>"],
    ["special_im_end", "<|im_end|>"],
    ["special_endoftext", "<|endoftext|>"],
    ["special_chat_turn", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"],
    ["special_in_text", "The token <|endoftext|> ends a document; <|im_start|> starts a turn."],
    ["special_adjacent_spaces", " <|im_start|> <|im_end|>  "],
    ["special_lookalike", "<|im_start|><|im_sta rt|><|IM_START|><im_start><|im_end|x"],
    ["special_other", "<file_sep><repo_name><gh_stars><jupyter_code><empty_output>"],
    ["long_word", LONG_WORD],
    ["long_word_x5", LONG_WORD.repeat(5)],
    ["long_run_a", "a".repeat(300)],
    ["long_run_spaces", " ".repeat(100) + "x"],
    ["long_run_newlines", "\n".repeat(40) + "x"],
    ["hex_hash", "0x7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0"],
    ["camel_snake", "camelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case"],
    ["prose_paragraph", "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it, \u201cand what is the use of a book,\u201d thought Alice \u201cwithout pictures or conversations?\u201d"],
];

function tokenizeFixtures() {
    const names = new Set();
    const lines = [];
    for (const [name, text] of TOKENIZE_CASES) {
        if (names.has(name)) throw new Error(`duplicate case ${name}`);
        names.add(name);
        const plain = Array.from(model.tokenize(text, false));
        const special = Array.from(model.tokenize(text, true));
        lines.push(JSON.stringify({
            name,
            text,
            ids: plain,
            detok: model.detokenize(plain, false),
            ids_special: special,
            detok_special: model.detokenize(special, true),
            detok_special_skip: model.detokenize(special, false),
        }));
    }
    return lines;
}

// ---------------------------------------------------------------- 2. greedy generation
const chatTemplateSource = model.fileInfo.metadata.tokenizer.chat_template;
const chatTemplate = new Template(chatTemplateSource);
function renderChat(messages) {
    return chatTemplate.render({
        messages,
        add_generation_prompt: true,
        bos_token: model.tokens.bosString ?? "",
        eos_token: model.tokens.eosString ?? "",
    });
}
// Cross-check: node-llama-cpp's JinjaTemplateChatWrapper on the same template must give the same
// token ids. (Its default resolveChatWrapper(model) picks "ChatML" instead, which prepends a BOS
// token, i.e. a second <|im_start|>, and leaves out the default system prompt: not used here.)
const jinjaWrapper = new JinjaTemplateChatWrapper({ template: chatTemplateSource });
function wrapperIds(messages) {
    const chatHistory = messages.map((m) => (m.role === "system"
        ? { type: "system", text: m.content }
        : m.role === "user" ? { type: "user", text: m.content } : { type: "model", response: [m.content] }));
    chatHistory.push({ type: "model", response: [] });
    return Array.from(jinjaWrapper.generateContextState({ chatHistory }).contextText.tokenize(model.tokenizer));
}

const GREEDY_PROMPTS = [
    { name: "raw_capital", text: "The capital of France is" },
    { name: "raw_story", text: "Once upon a time, there was a little" },
    { name: "raw_python", text: "def fibonacci(n):\n" },
    { name: "raw_counting", text: "1, 2, 3, 4, 5," },
    { name: "raw_even", text: "2, 4, 6, 8, 10," },
    { name: "raw_tens", text: "10, 20, 30, 40," },
    { name: "raw_html_list", text: "<ul>\n<li>1</li>\n<li>2</li>\n" },
    { name: "raw_alphabet", text: "A B C D E F G" },
    { name: "raw_months", text: "January, February, March, April," },
    { name: "raw_fox", text: "The quick brown fox jumps over the lazy dog. The quick brown fox" },
    { name: "chat_capital", messages: [{ role: "user", content: "What is the capital of France?" }] },
    { name: "chat_poem_system", messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: "Write a short poem about the sea." },
    ] },
    { name: "chat_count", messages: [{ role: "user", content: "Count from 1 to 30, separated by commas." }] },
    { name: "chat_count50", messages: [{ role: "user", content: "Count from 1 to 50." }] },
    { name: "chat_days", messages: [{ role: "user", content: "List the days of the week, one per line." }] },
    { name: "chat_multiturn", messages: [
        { role: "user", content: "Hi!" },
        { role: "assistant", content: "Hello! How can I help you today?" },
        { role: "user", content: "Tell me a fun fact about cats." },
    ] },
];

async function greedyOne(prompt) {
    const isChat = prompt.messages !== undefined;
    const promptText = isChat ? renderChat(prompt.messages) : prompt.text;
    // chat prompts: special-token text is parsed (the template's <|im_start|>/<|im_end|> become
    // the control tokens); raw prompts: plain text. Never a BOS (the model's add_bos_token is false).
    const promptIds = Array.from(model.tokenize(promptText, isChat));
    if (isChat && JSON.stringify(wrapperIds(prompt.messages)) !== JSON.stringify(promptIds)) {
        throw new Error(`${prompt.name}: JinjaTemplateChatWrapper tokenizes the chat differently`);
    }
    if (promptIds.length + N_GEN > N_CTX) throw new Error(`${prompt.name}: prompt too long`);

    const context = await newContext();
    const sequence = context.getSequence();
    const steps = [];
    const generated = [];
    let input = promptIds.map((t, i) => (i === promptIds.length - 1 ? [t, GREEDY_NEXT] : t));
    for (let step = 0; step < N_GEN; step++) {
        const out = await sequence.controlledEvaluate(input);
        const next = out[input.length - 1]?.next;
        if (next?.token == null || next.logits == null) throw new Error(`${prompt.name}: no token at step ${step}`);
        const { entries, logsumexp, margin } = analyse(next.logits, next.token);
        generated.push(next.token);
        steps.push({
            token: next.token,
            margin,
            logsumexp,
            top: entries.slice(0, TOP_K).map(([id, l]) => [id, l]),
        });
        input = [[next.token, GREEDY_NEXT]];
    }
    await context.dispose();

    const firstEog = generated.findIndex((t) => model.isEogToken(t));
    const window = steps.slice(0, MARGIN_WINDOW).map((s) => s.margin);
    const minMargin32 = Math.min(...window);
    return {
        line: JSON.stringify({
            name: prompt.name,
            kind: isChat ? "chat" : "raw",
            ...(isChat ? { messages: prompt.messages } : {}),
            prompt: promptText,
            parse_special: isChat,
            prompt_ids: promptIds,
            generated_ids: generated,
            generated_text: model.detokenize(generated, true),
            first_eog_step: firstEog < 0 ? null : firstEog,
            min_margin_first_32: minMargin32,
            stable_first_32: minMargin32 >= MARGIN_MIN,
            steps,
        }),
        summary: { name: prompt.name, minMargin32, minMargin64: Math.min(...steps.map((s) => s.margin)), firstEog },
    };
}

// ---------------------------------------------------------------- 3. perplexity
// The rule of llama.cpp's tools/perplexity/perplexity.cpp, perplexity() (ppl_stride = 0):
//   tokens  = common_tokenize(ctx, text, add_special = true, parse_special = false)
//             (add_special adds a BOS only when the vocab's add_bos is true: not for this model)
//   n_chunk = floor(n_tokens / n_ctx); chunk i = tokens[i*n_ctx, (i+1)*n_ctx); the rest is dropped
//   KV cache cleared before each chunk; if add_bos, the chunk's FIRST token is REPLACED by BOS
//   (not prepended) - not the case here, so chunks are evaluated exactly as tokenized
//   first   = n_ctx/2; scored: the logits at positions j = first .. n_ctx-2 predicting token j+1,
//             i.e. n_ctx - 1 - first = 255 tokens per chunk for n_ctx = 512
//   nll     = -(logit[tok] - max - log(sum_v exp(logit[v] - max))); ppl = exp(sum nll / count)
async function perplexity() {
    const textBytes = readFileSync(textPath);
    if (sha256(textBytes) !== TEXT_SHA256) throw new Error(`${textPath}: SHA-256 mismatch; run extract_text.py`);
    const text = textBytes.toString("utf8");
    const tokens = Array.from(model.tokenize(text, false));
    const nChunk = Math.floor(tokens.length / N_CTX);
    if (nChunk < 2) throw new Error("text too short");
    const first = N_CTX / 2;
    const chunks = [];
    let nllTotal = 0;
    let count = 0;
    for (let c = 0; c < nChunk; c++) {
        const chunk = tokens.slice(c * N_CTX, (c + 1) * N_CTX);
        const input = chunk.map((t, j) => (j >= first && j <= N_CTX - 2 ? [t, { generateNext: { logits: true } }] : t));
        const context = await newContext();
        const out = await context.getSequence().controlledEvaluate(input);
        const tokenNll = [];
        for (let j = first; j <= N_CTX - 2; j++) {
            const logits = out[j]?.next?.logits;
            if (logits == null || logits.size !== vocabSize) throw new Error(`chunk ${c}: no logits at ${j}`);
            let max = -Infinity;
            for (const l of logits.values()) if (l > max) max = l;
            let sum = 0;
            for (const l of logits.values()) sum += Math.exp(l - max);
            tokenNll.push(-(logits.get(chunk[j + 1]) - max - Math.log(sum)));
        }
        await context.dispose();
        const nll = tokenNll.reduce((a, b) => a + b, 0);
        nllTotal += nll;
        count += tokenNll.length;
        chunks.push({
            chunk: c,
            nll_sum: nll,
            nll_mean: nll / tokenNll.length,
            ppl_running: Math.exp(nllTotal / count),
            token_nll: tokenNll,
        });
        log(`perplexity chunk ${c + 1}/${nChunk}: running ppl ${Math.exp(nllTotal / count).toFixed(4)}`);
    }
    return {
        text_file: relative(root, textPath),
        text_sha256: TEXT_SHA256,
        n_ctx: N_CTX,
        first_scored_position: first,
        scored_per_chunk: N_CTX - 1 - first,
        bos_per_chunk: false,
        n_tokens: tokens.length,
        n_chunks: nChunk,
        count,
        nll_mean: nllTotal / count,
        perplexity: Math.exp(nllTotal / count),
        rule: "llama.cpp tools/perplexity perplexity(): tokens = tokenize(text, add_special=true, parse_special=false) (no BOS for this model); chunk i = tokens[512*i, 512*(i+1)), remainder dropped; KV cache cleared per chunk; BOS would REPLACE the first token of each chunk only if the vocab's add_bos were true (it is false here); score logits at positions 256..510 against the next token (255 per chunk); nll = logsumexp(logits) - logits[next]; perplexity = exp(sum nll / count). Logits are llama.cpp's f32; the logsumexp is computed here in float64.",
        tokens,
        chunks,
    };
}

// ---------------------------------------------------------------- run
mkdirSync(outDir, { recursive: true });

if (!opts["no-tokenize"]) {
    log("tokenize");
    const tokLines = tokenizeFixtures();
    writeFileSync(join(outDir, "tokenize.jsonl"), tokLines.join("\n") + "\n");
}

log("greedy");
const greedyLines = [];
const summaries = [];
for (const p of GREEDY_PROMPTS) {
    const { line, summary } = await greedyOne(p);
    greedyLines.push(line);
    summaries.push(summary);
    log(`greedy ${summary.name}: min margin first 32 = ${summary.minMargin32.toFixed(4)}, first 64 = ${summary.minMargin64.toFixed(4)}, first EOG step = ${summary.firstEog}`);
}
writeFileSync(join(outDir, "greedy.jsonl"), greedyLines.join("\n") + "\n");

log("perplexity");
const ppl = await perplexity();
writeFileSync(join(outDir, "perplexity.json"), JSON.stringify(ppl) + "\n");
log(`perplexity ${ppl.perplexity} over ${ppl.n_chunks} chunks (${ppl.count} scored tokens of ${ppl.n_tokens})`);

// Only for --quantized-from / --quantize-command: where the model file came from, and its tensor types.
function requantizedMeta() {
    const extra = {};
    if (opts["quantized-from"] !== undefined) {
        const src = resolve(opts["quantized-from"]);
        extra.quantized_from = { file: src.split("/").pop(), sha256: sha256(readFileSync(src)) };
    }
    if (opts["quantize-command"] !== undefined) extra.quantize_command = opts["quantize-command"];
    const types = {};
    for (const t of model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo ?? []) {
        const name = GgmlType[t.ggmlType] ?? String(t.ggmlType);
        types[name] = (types[name] ?? 0) + 1;
    }
    extra.general_file_type = model.fileInfo.metadata.general?.file_type ?? null;
    extra.tensor_types = Object.fromEntries(Object.entries(types).sort((a, b) => a[0].localeCompare(b[0])));
    extra.tokenize_jsonl = opts["no-tokenize"] ? "not written (--no-tokenize): see tests/fixtures/llamacpp/tokenize.jsonl" : "written";
    return extra;
}

const readJson = (...p) => JSON.parse(readFileSync(join(here, "node_modules", ...p), "utf8"));
const nlcPkg = readJson("node-llama-cpp", "package.json");
const releaseInfo = readJson("node-llama-cpp", "llama", "llama.cpp.info.json");
const meta = {
    generator: "scripts/oracle/llamacpp/fixtures.mjs",
    node_llama_cpp: nlcPkg.version,
    prebuilt_binary_package: `@node-llama-cpp/linux-x64@${readJson("@node-llama-cpp", "linux-x64", "package.json").version}`,
    llama_cpp_release: releaseInfo.tag,
    llama_cpp_repo: releaseInfo.llamaCppGithubRepo,
    cpu_backend: cpuBackend,
    jinja_renderer: `@huggingface/jinja@${readJson("@huggingface", "jinja", "package.json").version}`,
    model_file: modelPath.split("/").pop(),
    model_sha256: modelSha256,
    ...(opts["quantized-from"] !== undefined || opts["quantize-command"] !== undefined ? requantizedMeta() : {}),
    vocab_size: vocabSize,
    add_bos_token: false,
    bos_token: [model.tokens.bos, model.tokens.bosString],
    eos_token: [model.tokens.eos, model.tokens.eosString],
    chat_template_sha256: sha256(chatTemplateSource),
    context: { n_ctx: N_CTX, n_batch: N_CTX, n_ubatch: N_CTX, threads: 1, flash_attention: false, kv_cache_type: "f16", gpu_layers: 0 },
    greedy: { n_generated: N_GEN, top_k_stored: TOP_K, sampler: "llama.cpp greedy (temperature 0), nothing else in the chain" },
    greedy_stable_first_32: summaries.filter((s) => s.minMargin32 >= MARGIN_MIN).map((s) => s.name),
};
writeFileSync(join(outDir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");

await model.dispose();
await llama.dispose();
log("done");
