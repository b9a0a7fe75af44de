// The single-threaded wasm package under Node, as a user drives it (run after `npm run build`):
//   node tests/wasm/node_generate.mjs
// In Node the engine runs in place (no Worker); the API is the one a page gets.
// - a path loads in chunks with onProgress increasing to the total; info() describes the build;
// - tokenize/detokenize round-trip text, and raw prompts tokenize as llama.cpp did;
// - greedy generation (temperature 0) of 32 tokens gives exactly llama.cpp's text for the raw
//   prompts whose first 32 greedy tokens have no near-tie (tests/fixtures/llamacpp/greedy.jsonl),
//   streamed and not (complete());
// - chat.completions.create, streamed and not, give the same text and usage; stop strings stop;
//   a chat's next turn reuses the KV cache;
// - an AbortSignal stops a generation within a token (finish_reason "abort"), and the next request
//   gives exactly the text it gives on a fresh engine;
// - bad options are coded Errors; a model that cannot fit in wasm32 is refused from its header,
//   before the rest is read; malformed models reject with bad_model and a new engine then works;
// - a Rust panic rejects with code "panic" and the engine then refuses every call.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { check, failures } from "./check.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { createEngine, listCachedModels } = await import(path.join(repo, "pkg/engine.js"));
const { EngineLoader } = await import(path.join(repo, "pkg/ruvllm.js"));

const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const modelBytes = readFileSync(modelPath);


async function collect(stream) {
  const pieces = [];
  for await (const piece of stream) {
    assert.equal(typeof piece, "string");
    pieces.push(piece);
  }
  return { text: pieces.join(""), pieces, usage: await stream.usage };
}

async function expectCode(promiseOrFn, code) {
  let err;
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `expected an Error with code ${code}, got ${err}`);
  assert.equal(err.code, code, `code of: ${err.message}`);
  return err;
}

const progress = [];
let engine = await createEngine({ model: modelPath, onProgress: (p) => progress.push(p) });

await check("a path loads in chunks; onProgress increases to the total; info() describes the build", async () => {
  assert.ok(progress.length >= 2, `${progress.length} progress calls`);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].loaded > progress[i - 1].loaded);
  assert.deepEqual(progress.at(-1), { loaded: modelBytes.length, total: modelBytes.length });
  const info = engine.info();
  console.log("     info:", JSON.stringify(info));
  assert.equal(info.architecture, "llama");
  assert.equal(info.n_ctx, 2048);
  assert.equal(info.n_vocab, 49152);
  assert.equal(info.kernels, "simd128");
  assert.equal(info.threads, 1);
  assert.equal(info.build, "single");
  assert.equal(info.worker, false);
  assert.equal(info.model_bytes, modelBytes.length);
  assert.deepEqual(await listCachedModels(), [], "no origin storage in Node");
});

await check("tokenize/detokenize round-trip text", async () => {
  for (const s of ["Hello, world!", "  Ünïcödé ✓ 🙂 text\n\twith 12345 numbers and   spaces", "日本語のテキスト"]) {
    const ids = await engine.tokenize(s);
    assert.ok(Array.isArray(ids) && ids.length > 0);
    assert.equal(await engine.detokenize(ids), s);
    assert.equal(await engine.detokenize(Uint32Array.from(ids)), s);
  }
  const special = await engine.tokenize("<|im_start|>user", { parseSpecial: true });
  assert.equal(await engine.detokenize(special, { special: true }), "<|im_start|>user");
});

const greedy = readFileSync(path.join(repo, "tests/fixtures/llamacpp/greedy.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((r) => r.stable_first_32 === true && r.kind === "raw");

await check(`greedy 32 tokens equal llama.cpp's for ${greedy.length} raw prompts, streamed and not`, async () => {
  assert.ok(greedy.length >= 3, "the oracle should provide stable raw prompts");
  for (const rec of greedy) {
    assert.deepEqual(await engine.tokenize(rec.prompt, { addSpecial: true }), rec.prompt_ids, rec.name);
    const expected = await engine.detokenize(rec.generated_ids.slice(0, 32));
    const { text, usage, pieces } = await collect(engine.generate(rec.prompt, { temperature: 0, max_tokens: 32 }));
    assert.equal(text, expected, rec.name);
    assert.ok(pieces.length > 1 && pieces.every((p) => p.length > 0), "several non-empty pieces");
    assert.equal(usage.generated_tokens, 32);
    assert.equal(usage.prompt_tokens, rec.prompt_ids.length);
    assert.equal(usage.finish_reason, "length");
    const whole = await engine.complete(rec.prompt, { temperature: 0, max_tokens: 32 });
    assert.equal(whole.text, text, "complete() equals the streamed text");
    assert.equal(whole.usage.generated_tokens, usage.generated_tokens);
    console.log(
      `     ${rec.name}: ${JSON.stringify(text.slice(0, 40))}... prefill ${usage.prefill_tokens_per_s.toFixed(1)} t/s,` +
        ` decode ${usage.decode_tokens_per_s.toFixed(1)} t/s`,
    );
  }
});

await check('precision "high": info() says so, and the greedy text is still llama.cpp\'s', async () => {
  const high = await createEngine({ model: modelBytes, precision: "high", n_ctx: 256 });
  try {
    assert.equal(high.info().precision, "high");
    assert.equal(engine.info().precision, "standard");
    const rec = greedy[0];
    const { text, usage } = await high.complete(rec.prompt, { temperature: 0, max_tokens: 32 });
    assert.equal(text, await high.detokenize(rec.generated_ids.slice(0, 32)), rec.name);
    console.log(`     ${rec.name}: decode ${usage.decode_tokens_per_s.toFixed(1)} t/s at high precision`);
  } finally {
    await high.unload();
  }
});

const question = [{ role: "user", content: "What is the capital of France?" }];

await check("chat.completions.create: a completion object, and the same as chat.completion.chunk objects", async () => {
  const reply = await engine.chat.completions.create({ messages: question, temperature: 0, max_tokens: 16 });
  assert.equal(reply.object, "chat.completion");
  assert.match(reply.id, /^chatcmpl-/);
  assert.equal(reply.choices.length, 1);
  assert.equal(reply.choices[0].message.role, "assistant");
  const content = reply.choices[0].message.content;
  assert.ok(content.length > 0 && !content.includes("<|im_start|>"), content);
  assert.ok(["stop", "length"].includes(reply.choices[0].finish_reason));
  assert.equal(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens);

  const stream = await engine.chat.completions.create({ messages: question, temperature: 0, max_tokens: 16, stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
  assert.equal(text, content, "streamed chunks equal the completion");
  assert.equal(chunks.at(-2).choices[0].finish_reason, reply.choices[0].finish_reason);
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, reply.usage.completion_tokens);
  assert.equal(chunks.at(-1).usage.prompt_tokens, reply.usage.prompt_tokens);

  const word = content.trim().split(/\s+/)[1];
  if (word) {
    const stopped = await engine.chat.completions.create({ messages: question, temperature: 0, max_tokens: 16, stop: word });
    assert.equal(stopped.choices[0].finish_reason, "stop");
    assert.equal(stopped.usage.ruvllm.finish_reason, "stop");
    const s = stopped.choices[0].message.content;
    assert.ok(!s.includes(word) && content.startsWith(s), JSON.stringify([content, s]));
  }
});

await check("a chat's second turn reuses the cached prefix; reset() forgets it", async () => {
  await engine.reset();
  const ask = (messages) => engine.chat.completions.create({ messages, temperature: 0, max_tokens: 8 });
  const messages = [{ role: "user", content: "Name a colour." }];
  const first = await ask(messages);
  assert.equal(first.usage.ruvllm.prompt_evaluated, first.usage.prompt_tokens);
  messages.push(first.choices[0].message, { role: "user", content: "And another?" });
  const second = await ask(messages);
  assert.ok(
    second.usage.ruvllm.prompt_evaluated < second.usage.prompt_tokens / 2,
    `second turn evaluated ${second.usage.ruvllm.prompt_evaluated} of ${second.usage.prompt_tokens} prompt tokens`,
  );
  await engine.reset();
  const again = await ask(messages);
  assert.equal(again.usage.ruvllm.prompt_evaluated, again.usage.prompt_tokens);
  assert.equal(again.choices[0].message.content, second.choices[0].message.content);
});

await check("an AbortSignal stops generation within a token; the next request is unaffected", async () => {
  const prompt = greedy[0].prompt;
  const reference = await engine.complete(prompt, { temperature: 0, max_tokens: 24 });
  for (const stopAt of [1, 5]) {
    const controller = new AbortController();
    const stream = engine.generate("Once upon a time", { temperature: 0, max_tokens: 200, signal: controller.signal });
    let n = 0;
    for await (const _ of stream) if (++n === stopAt) controller.abort();
    const usage = await stream.usage;
    assert.equal(usage.finish_reason, "abort");
    assert.ok(usage.generated_tokens <= stopAt + 1, `${usage.generated_tokens} tokens after aborting at piece ${stopAt}`);
    const next = await engine.complete(prompt, { temperature: 0, max_tokens: 24 });
    assert.equal(next.text, reference.text, "the KV cache is consistent after an abort");
  }
  // Aborted before it starts; leaving the loop early (break) aborts too.
  const before = await engine.complete("Hi", { max_tokens: 50, signal: AbortSignal.abort() });
  assert.equal(before.usage.finish_reason, "abort");
  assert.equal(before.usage.generated_tokens, 0);
  const stream = engine.generate("Once upon a time", { temperature: 0, max_tokens: 200 });
  for await (const _ of stream) break;
  assert.equal((await stream.usage).finish_reason, "abort");
  const chat = await engine.chat.completions.create({
    messages: question,
    max_tokens: 100,
    stream: true,
    signal: AbortSignal.timeout(150),
  });
  const chunks = [];
  for await (const c of chat) chunks.push(c);
  assert.equal(chunks.at(-2).choices[0].finish_reason, "abort");
  assert.equal((await engine.complete(prompt, { temperature: 0, max_tokens: 24 })).text, reference.text);
});

await check("bad arguments are coded Errors", async () => {
  await expectCode(collect(engine.generate("Hi", { temperature: -1 })), "invalid_argument");
  await expectCode(() => engine.generate("Hi", { max_tokenz: 3 }), "invalid_argument");
  await expectCode(engine.chat.completions.create({ messages: "not a list" }), "invalid_argument");
  await expectCode(engine.chat.completions.create({ messages: question, logit_bias: {} }), "invalid_argument");
  await expectCode(engine.detokenize([1, 49152]), "bad_token");
  await expectCode(engine.detokenize([1.5]), "invalid_argument");
  await expectCode(engine.complete("word ".repeat(2100), { max_tokens: 4 }), "context_full");
  await expectCode(createEngine({ model: modelBytes, n_ctx: 0 }), "invalid_argument");
  await expectCode(createEngine({ model: modelBytes, colour: "blue" }), "invalid_argument");
  await expectCode(createEngine({ model: modelBytes, precision: "exact" }), "invalid_argument");
  await expectCode(createEngine({ model: 42 }), "invalid_argument");
  await expectCode(createEngine({ model: "/no/such/model.gguf" }), "io");
  const again = await engine.complete("Once upon a time", { temperature: 0, max_tokens: 2 });
  assert.equal(again.usage.generated_tokens, 2);
});

await check("a wasm module that does not compile is code unsupported_browser; a missing one io", async () => {
  // A fresh process: the module is instantiated once per thread.
  const attempt = (wasm) =>
    execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { createEngine } = await import(${JSON.stringify(path.join(repo, "pkg/engine.js"))});
         try { await createEngine({ model: new Uint8Array(8), wasm: ${wasm} }); console.log("no error"); }
         catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      ],
      { encoding: "utf8" },
    );
  const bad = JSON.parse(attempt("new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 255])"));
  assert.equal(bad.code, "unsupported_browser", bad.message);
  assert.match(bad.message, /simd128/);
  const missing = JSON.parse(attempt(JSON.stringify(path.join(repo, "pkg/no-such.wasm"))));
  assert.equal(missing.code, "io", missing.message);
});

await check("a model that cannot fit in wasm32 memory is refused before it has all arrived", async () => {
  let err = await expectCode(() => new EngineLoader(3 * 2 ** 30), "out_of_memory");
  console.log(`     ${err.message}`);
  // n_ctx 1M: a KV cache of 45 GiB, known from the header alone.
  const loader = new EngineLoader(modelBytes.length, JSON.stringify({ n_ctx: 1 << 20 }));
  let pushed = 0;
  err = await expectCode(() => {
    for (; pushed < modelBytes.length; pushed += 1 << 20) loader.push(modelBytes.subarray(pushed, pushed + (1 << 20)));
  }, "out_of_memory");
  loader.free();
  assert.ok(pushed < modelBytes.length / 4, `refused after ${pushed} of ${modelBytes.length} bytes`);
  assert.match(err.message, /KV cache/);
  console.log(`     after ${pushed} bytes: ${err.message}`);
  const seen = [];
  await expectCode(
    createEngine({ model: new Blob([modelBytes]), n_ctx: 1 << 20, onProgress: (p) => seen.push(p.loaded) }),
    "out_of_memory",
  );
  assert.ok((seen.at(-1) ?? 0) < modelBytes.length, "createEngine stops reading the source");
});

await check("malformed models reject with bad_model; a new engine then works", async () => {
  await engine.unload();
  await expectCode(() => engine.info(), "unloaded");
  await expectCode(engine.complete("Hi"), "unloaded");
  const err = await expectCode(createEngine({ model: modelBytes.subarray(0, 100) }), "bad_model");
  console.log(`     ${err.code} (${err.kind}): ${err.message}`);
  await expectCode(createEngine({ model: new Uint8Array(0) }), "bad_model");
  await expectCode(createEngine({ model: new TextEncoder().encode("not a model at all").buffer }), "bad_model");
  engine = await createEngine({ model: new Blob([modelBytes]), n_ctx: 512 });
  assert.equal(engine.info().n_ctx, 512);
  const rec = greedy[0];
  const { text } = await engine.complete(rec.prompt, { temperature: 0, max_tokens: 32 });
  assert.equal(text, await engine.detokenize(rec.generated_ids.slice(0, 32)));
});

// Last: a panic poisons this thread's wasm module.
await check("a panic rejects with code panic; the engine then refuses every call", async () => {
  const err = await expectCode(engine._debugPanic("checking the panic path"), "panic");
  assert.match(err.message, /checking the panic path/);
  await expectCode(engine.complete("Hi"), "panic");
  await expectCode(engine.tokenize("Hi"), "panic");
  await expectCode(() => engine.info(), "panic");
  const refused = await expectCode(createEngine({ model: modelBytes }), "panic");
  assert.match(refused.message, /new/);
});

if (failures()) {
  console.log(`${failures()} check(s) failed`);
  process.exit(1);
}
console.log("all wasm engine checks passed");
