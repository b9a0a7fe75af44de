// Compiled by `npm test` (tsc --noEmit -p tests/wasm/types): the package's types describe the
// API as the tests and the demo use it. Not run.
import { createEngine, listCachedModels, deleteCachedModel, clearModelCache, type Engine, type Usage, type EngineError } from "ruvllm";

async function main(): Promise<void> {
  const controller = new AbortController();
  const engine: Engine = await createEngine({
    model: "https://example.com/model.gguf",
    onProgress: ({ loaded, total }) => console.log(loaded, total ?? "?"),
    signal: controller.signal,
    n_ctx: 1024,
    backend: "auto",
    precision: "high",
  });
  const info = engine.info();
  const build: "single" | "threaded" = info.build;
  const backend: "cpu" | "webgpu" = info.backend;
  const kv: "f16" | "f32" | undefined = info.gpu?.kv_cache;
  const note: string | null = info.backend_note;
  const precision: "standard" | "high" = info.precision;
  const next: Float32Array = await engine.logits([1, 2, 3], { reset: true });
  const stream = engine.generate("Hello", { max_tokens: 8, temperature: 0, stop: ["\n"], signal: controller.signal });
  let text = "";
  for await (const piece of stream) text += piece;
  const usage: Usage = await stream.usage;
  const reason: "eog" | "stop" | "length" | "abort" = usage.finish_reason;
  const whole = await engine.complete("Hello", { max_tokens: 8 });
  const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 8 });
  const content: string = reply.choices[0].message.content;
  const chunks = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], stream: true });
  for await (const chunk of chunks) {
    const delta: string | undefined = chunk.choices[0]?.delta.content;
    if (chunk.usage) console.log(chunk.usage.completion_tokens, delta);
  }
  const ids: number[] = await engine.tokenize("Hi");
  const back: string = await engine.detokenize(ids);
  for (const m of await listCachedModels()) await deleteCachedModel(m.url);
  await clearModelCache();
  await engine.unload();
  try {
    await createEngine({ model: new Blob([]) });
  } catch (e) {
    const code: EngineError["code"] = (e as EngineError).code;
    console.log(code);
  }
  console.log(build, backend, kv, note, next.length, text, reason, whole.text, content, back);
}
void main;
