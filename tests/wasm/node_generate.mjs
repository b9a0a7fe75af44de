// The single-threaded wasm package under Node, as a user drives it (run after `npm run build`):
//   node tests/wasm/node_generate.mjs
// - info() describes the model and the build;
// - tokenize/detokenize round-trip text, and raw prompts tokenize as llama.cpp did;
// - greedy generation (temperature 0) of 32 tokens gives exactly llama.cpp's text for the raw
//   prompts whose first 32 greedy tokens have no near-tie (tests/fixtures/llamacpp/greedy.jsonl),
//   as tests/generation.rs checks natively;
// - chat renders the model's template and generates; its next turn reuses the KV cache;
// - bad options and a throwing callback are coded Errors, not crashes;
// - a malformed model (its first 100 bytes) rejects with a coded Error, and a new engine works.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { createEngine } = await import(path.join(repo, "pkg/engine.js"));

const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const modelBytes = readFileSync(modelPath);

let failures = 0;
async function check(name, f) {
  try {
    await f();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e?.stack ?? e}`);
  }
}

async function collect(events) {
  let text = "";
  let usage = null;
  const pieces = [];
  for await (const ev of events) {
    if (ev.type === "piece") {
      assert.equal(usage, null, "pieces come before the usage record");
      pieces.push(ev.text);
      text += ev.text;
    } else {
      assert.equal(ev.type, "usage");
      usage = ev.usage;
    }
  }
  assert.ok(usage, "a final usage record");
  return { text, usage, pieces };
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

let engine = await createEngine({ model: modelBytes });

await check("info() describes the model and the single-threaded simd128 build", () => {
  const info = engine.info();
  console.log("     info:", JSON.stringify(info));
  assert.equal(info.architecture, "llama");
  assert.equal(info.n_ctx, 2048);
  assert.equal(info.n_vocab, 49152);
  assert.equal(info.kernels, "simd128");
  assert.equal(info.threads, 1);
  assert.equal(info.build, "single");
  assert.equal(info.model_bytes, modelBytes.length);
});

await check("tokenize/detokenize round-trip text", () => {
  for (const s of ["Hello, world!", "  Ünïcödé ✓ 🙂 text\n\twith 12345 numbers and   spaces", "日本語のテキスト"]) {
    const ids = engine.tokenize(s);
    assert.ok(ids instanceof Uint32Array && ids.length > 0);
    assert.equal(engine.detokenize(ids), s);
    assert.equal(engine.detokenize(Array.from(ids)), s);
  }
  const special = engine.tokenize("<|im_start|>user", { parseSpecial: true });
  assert.equal(engine.detokenize(special, { special: true }), "<|im_start|>user");
});

const greedy = readFileSync(path.join(repo, "tests/fixtures/llamacpp/greedy.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((r) => r.stable_first_32 === true && r.kind === "raw");

await check(`greedy 32 tokens equal llama.cpp's for ${greedy.length} raw prompts`, async () => {
  assert.ok(greedy.length >= 3, "the oracle should provide stable raw prompts");
  for (const rec of greedy) {
    assert.deepEqual(Array.from(engine.tokenize(rec.prompt, { addSpecial: true })), rec.prompt_ids, rec.name);
    const expected = engine.detokenize(rec.generated_ids.slice(0, 32));
    const live = [];
    const { text, usage, pieces } = await collect(
      engine.generate(rec.prompt, { temperature: 0, max_tokens: 32, onPiece: (t) => live.push(t) }),
    );
    assert.equal(text, expected, rec.name);
    assert.deepEqual(live, pieces, "onPiece sees the same pieces, in order");
    assert.equal(usage.generated_tokens, 32);
    assert.equal(usage.prompt_tokens, rec.prompt_ids.length);
    assert.equal(usage.finish_reason, "length");
    console.log(
      `     ${rec.name}: ${JSON.stringify(text.slice(0, 40))}... prefill ${usage.prefill_tokens_per_s.toFixed(1)} t/s,` +
        ` decode ${usage.decode_tokens_per_s.toFixed(1)} t/s`,
    );
  }
});

await check("chat renders the model's template and generates; stop strings stop", async () => {
  const { text, usage } = await collect(
    engine.chat([{ role: "user", content: "What is the capital of France?" }], { temperature: 0, max_tokens: 16 }),
  );
  assert.ok(text.length > 0 && usage.generated_tokens > 0, JSON.stringify({ text, usage }));
  assert.ok(!text.includes("<|im_start|>"));
  const word = text.trim().split(/\s+/)[1];
  if (word) {
    const stopped = await collect(
      engine.chat([{ role: "user", content: "What is the capital of France?" }], {
        temperature: 0,
        max_tokens: 16,
        stop: [word],
      }),
    );
    assert.equal(stopped.usage.finish_reason, "stop");
    assert.ok(!stopped.text.includes(word) && text.startsWith(stopped.text), JSON.stringify([text, stopped.text]));
  }
});

await check("a chat's second turn reuses the cached prefix; reset() forgets it", async () => {
  engine.reset();
  const messages = [{ role: "user", content: "Name a colour." }];
  const first = await collect(engine.chat(messages, { temperature: 0, max_tokens: 8 }));
  assert.equal(first.usage.prompt_evaluated, first.usage.prompt_tokens);
  messages.push({ role: "assistant", content: first.text }, { role: "user", content: "And another?" });
  const second = await collect(engine.chat(messages, { temperature: 0, max_tokens: 8 }));
  assert.ok(
    second.usage.prompt_evaluated < second.usage.prompt_tokens / 2,
    `second turn evaluated ${second.usage.prompt_evaluated} of ${second.usage.prompt_tokens} prompt tokens`,
  );
  engine.reset();
  const again = await collect(engine.chat(messages, { temperature: 0, max_tokens: 8 }));
  assert.equal(again.usage.prompt_evaluated, again.usage.prompt_tokens);
  assert.equal(again.text, second.text, "the same text with and without the cached prefix");
});

await check("bad options, bad ids and a throwing callback are coded Errors", async () => {
  await expectCode(collect(engine.generate("Hi", { temperature: -1 })), "bad_option");
  await expectCode(collect(engine.generate("Hi", { max_tokenz: 3 })), "bad_option");
  await expectCode(collect(engine.chat("not a list", {})), "bad_option");
  await expectCode(() => engine.detokenize([1, 49152]), "bad_token");
  await expectCode(collect(engine.generate("word ".repeat(2100), { max_tokens: 4 })), "context_full");
  let err;
  try {
    await collect(
      engine.generate("Once upon a time", {
        temperature: 0,
        max_tokens: 8,
        onPiece: () => {
          throw new Error("listener failed");
        },
      }),
    );
  } catch (e) {
    err = e;
  }
  assert.equal(err?.message, "listener failed");
  const again = await collect(engine.generate("Once upon a time", { temperature: 0, max_tokens: 2 }));
  assert.equal(again.usage.generated_tokens, 2);
});

await check("a malformed model rejects with a coded Error; a new engine then works", async () => {
  engine.unload();
  await expectCode(() => engine.info(), "unloaded");
  const err = await expectCode(createEngine({ model: modelBytes.subarray(0, 100) }), "bad_model");
  console.log(`     ${err.code} (${err.kind}): ${err.message}`);
  await expectCode(createEngine({ model: new Uint8Array(0) }), "bad_model");
  await expectCode(createEngine({ model: modelBytes, n_ctx: 0 }), "bad_option");
  engine = await createEngine({ model: modelBytes, n_ctx: 512 });
  assert.equal(engine.info().n_ctx, 512);
  const rec = greedy[0];
  const { text } = await collect(engine.generate(rec.prompt, { temperature: 0, max_tokens: 32 }));
  assert.equal(text, engine.detokenize(rec.generated_ids.slice(0, 32)));
  engine.unload();
});

if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("all wasm engine checks passed");
