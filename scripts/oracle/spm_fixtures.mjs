// Oracle driver: llama.cpp (node-llama-cpp 3.22.1's prebuilt linux-x64 CPU binary) tokenizes and
// detokenizes strings with a SentencePiece-vocabulary GGUF. Run by scripts/oracle/spm_fixtures.py,
// which writes the GGUF and the cases, and merges this output into tests/fixtures/spm/.
//
//   node scripts/oracle/spm_fixtures.mjs MODEL.gguf < cases.json > results.jsonl
//
// stdin: a JSON array of {name, text}. stdout: one JSON object per case, in order:
//   ids                 llama_tokenize(text, add_special=false, parse_special=false)
//   detok               llama_detokenize(ids, remove_special=false, unparse_special=false)
//   ids_special         llama_tokenize(text, add_special=false, parse_special=true)
//   detok_special       llama_detokenize(ids_special, remove_special=false, unparse_special=true)
//   detok_special_skip  llama_detokenize(ids_special, remove_special=false, unparse_special=false)
// and a last line {"meta": {...}} (versions, what llama.cpp read from the vocabulary).
// node-llama-cpp's tokenize() always passes add_special=false; the add_special=true columns come
// from the same libllama through ctypes in spm_fixtures.py.
//
// Same rules as scripts/oracle/llamacpp/fixtures.mjs: never builds llama.cpp, never downloads
// (NODE_LLAMA_CPP_SKIP_DOWNLOAD=true, build "never", prebuilt binaries only, CPU only, 1 thread).

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "llamacpp", "node_modules");
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(join(modules, "node-llama-cpp", "dist", "index.js")).href);

const modelPath = process.argv[2];
if (!modelPath) throw new Error("usage: node spm_fixtures.mjs MODEL.gguf < cases.json");
const cases = JSON.parse(readFileSync(0, "utf8"));

const llama = await getLlama({
    build: "never",
    gpu: false,
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: 1,
    logLevel: LlamaLogLevel.warn,
    logger(level, message) {
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`[llama.cpp ${level}] ${message}`);
    },
});
if (llama.gpu !== false) throw new Error(`expected CPU only, got gpu=${llama.gpu}`);
if (llama.buildType !== "prebuilt") throw new Error(`expected the prebuilt binary, got ${llama.buildType}`);

// The whole model is loaded (weights included), so the file is checked to be a loadable llama model.
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
if (model.vocabularyType !== "spm") throw new Error(`expected an SPM vocabulary, got ${model.vocabularyType}`);
// One evaluation proves the tensors are usable, not just present.
const context = await model.createContext({ contextSize: 64, batchSize: 64, sequences: 1, threads: 1, flashAttention: false });
const probe = await context.getSequence().controlledEvaluate([[model.tokens.bos, { generateNext: { token: true } }]]);
if (probe[0]?.next?.token == null) throw new Error("evaluation gave no token");
await context.dispose();

const names = new Set();
for (const { name, text } of cases) {
    if (names.has(name)) throw new Error(`duplicate case ${name}`);
    names.add(name);
    const plain = Array.from(model.tokenize(text, false));
    const special = Array.from(model.tokenize(text, true));
    process.stdout.write(JSON.stringify({
        name,
        text,
        ids: plain,
        detok: model.detokenize(plain, false),
        ids_special: special,
        detok_special: model.detokenize(special, true),
        detok_special_skip: model.detokenize(special, false),
    }) + "\n");
}

const readJson = (...p) => JSON.parse(readFileSync(join(modules, ...p), "utf8"));
process.stdout.write(JSON.stringify({
    meta: {
        node_llama_cpp: readJson("node-llama-cpp", "package.json").version,
        prebuilt_binary_package: `@node-llama-cpp/linux-x64@${readJson("@node-llama-cpp", "linux-x64", "package.json").version}`,
        llama_cpp_release: readJson("node-llama-cpp", "llama", "llama.cpp.info.json").tag,
        vocabulary_type: model.vocabularyType,
        bos: model.tokens.bos,
        eos: model.tokens.eos,
        should_prepend_bos: model.tokens.shouldPrependBosToken,
        eog_ids: Array.from({ length: model.fileInfo.metadata.tokenizer.ggml.tokens.length }, (_, i) => i).filter((i) => model.isEogToken(i)),
        probe_next_token: probe[0].next.token,
    },
}) + "\n");

await model.dispose();
await llama.dispose();
