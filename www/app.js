// The demo: load a model (the default one at start, a URL or a local file), show the download,
// and chat with streamed replies. Everything runs through the package's public API.
import { createEngine, listCachedModels, deleteCachedModel, clearModelCache } from "/pkg/engine.js";

const $ = (id) => document.getElementById(id);
const ui = {
  url: $("model-url"),
  load: $("load"),
  file: $("model-file"),
  backend: $("backend"),
  precision: $("precision"),
  progress: $("progress"),
  status: $("status"),
  info: $("info"),
  cached: $("cached"),
  clearCache: $("clear-cache"),
  temperature: $("temperature"),
  maxTokens: $("max-tokens"),
  newChat: $("new-chat"),
  messages: $("messages"),
  composer: $("composer"),
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  stats: $("stats"),
};

let engine = null;
let loading = null; // AbortController of the load in progress
let generating = null; // AbortController of the reply in progress
let history = [];
let source = null; // [model, label] of the last load (a backend or precision switch reloads it)

const mib = (n) => (n / 2 ** 20).toFixed(1);

function setStatus(text, state) {
  ui.status.textContent = text;
  ui.status.dataset.state = state;
}

function setBusy() {
  ui.send.disabled = !engine || Boolean(generating) || Boolean(loading);
  ui.stop.disabled = !generating;
}

async function refreshCached() {
  const models = await listCachedModels().catch(() => []);
  ui.cached.replaceChildren(
    ...models.map((m) => {
      const li = document.createElement("li");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "delete";
      remove.onclick = async () => {
        await deleteCachedModel(m.url);
        refreshCached();
      };
      li.append(`${m.url} (${m.size ? mib(m.size) + " MiB" : "?"}, ${m.storage}) `, remove);
      return li;
    }),
  );
  if (!models.length) ui.cached.textContent = "none";
}

async function load(model, label) {
  source = [model, label];
  loading?.abort();
  generating?.abort();
  const controller = new AbortController();
  loading = controller;
  const old = engine;
  engine = null;
  setBusy();
  await old?.unload();
  ui.info.textContent = "";
  ui.progress.value = 0;
  ui.progress.removeAttribute("max");
  setStatus(`Loading ${label}…`, "loading");
  try {
    const started = performance.now();
    const next = await createEngine({
      model,
      backend: ui.backend.value,
      precision: ui.precision.value,
      signal: controller.signal,
      onProgress: ({ loaded, total }) => {
        if (total) {
          ui.progress.max = total;
          ui.progress.value = loaded;
          setStatus(`Loading ${label}: ${mib(loaded)} of ${mib(total)} MiB`, "loading");
        } else {
          setStatus(`Loading ${label}: ${mib(loaded)} MiB`, "loading");
        }
      },
    });
    if (loading !== controller) {
      await next.unload();
      return;
    }
    engine = next;
    const info = engine.info();
    ui.progress.max = 1;
    ui.progress.value = 1;
    setStatus(`Ready: ${label} loaded in ${((performance.now() - started) / 1000).toFixed(1)} s.`, "ready");
    ui.info.textContent =
      `${info.name ?? info.architecture}: ${info.n_layer} layers, vocabulary ${info.n_vocab}, context ${info.n_ctx}; ` +
      `build ${info.build}, ${info.threads} thread${info.threads === 1 ? "" : "s"}, kernels ${info.kernels}` +
      (info.worker ? ", in a Web Worker" : "") +
      (info.backend === "webgpu"
        ? `; backend webgpu: ${info.gpu.adapter} (${info.gpu.device_type === "Cpu" ? "software adapter, " : ""}KV cache ${info.gpu.kv_cache})`
        : `; backend cpu${info.backend_note ? ` (${info.backend_note})` : ""}`) +
      `; ${info.precision} precision`;
    newChat();
  } catch (e) {
    if (loading === controller) setStatus(`Could not load ${label}: ${e.message} (${e.code ?? "error"})`, "error");
  } finally {
    if (loading === controller) loading = null;
    setBusy();
    refreshCached();
  }
}

function newChat() {
  generating?.abort();
  history = [];
  ui.messages.replaceChildren();
  ui.stats.textContent = "";
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  div.textContent = text;
  ui.messages.append(div);
  return div;
}

async function send(text) {
  if (!engine || generating || !text.trim()) return;
  history.push({ role: "user", content: text });
  bubble("user", text);
  const reply = bubble("assistant", "");
  const controller = new AbortController();
  generating = controller;
  setBusy();
  ui.stats.textContent = "…";
  let content = "";
  try {
    const stream = await engine.chat.completions.create({
      messages: history,
      stream: true,
      temperature: Number(ui.temperature.value),
      max_tokens: Number(ui.maxTokens.value),
      signal: controller.signal,
    });
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content;
      if (piece) {
        content += piece;
        reply.textContent = content;
      }
      if (chunk.usage) {
        const u = chunk.usage.ruvllm;
        ui.stats.textContent =
          `prompt ${u.prompt_tokens} tokens (${u.prompt_evaluated} evaluated) at ${u.prefill_tokens_per_s.toFixed(1)} t/s prefill; ` +
          `${u.generated_tokens} tokens at ${u.decode_tokens_per_s.toFixed(1)} t/s decode; finish: ${u.finish_reason}`;
      }
    }
    history.push({ role: "assistant", content });
  } catch (e) {
    reply.textContent = content + `\n[error: ${e.message} (${e.code ?? "error"})]`;
    history.pop();
  } finally {
    generating = null;
    setBusy();
  }
}

ui.load.onclick = () => {
  const url = ui.url.value.trim();
  if (url) load(url, url);
};
ui.file.onchange = () => {
  const file = ui.file.files?.[0];
  if (file) load(file, file.name);
};
ui.backend.onchange = ui.precision.onchange = () => {
  if (source) load(...source);
};
ui.clearCache.onclick = async () => {
  await clearModelCache();
  refreshCached();
};
ui.newChat.onclick = newChat;
ui.stop.onclick = () => generating?.abort();
ui.composer.onsubmit = (ev) => {
  ev.preventDefault();
  const text = ui.prompt.value;
  ui.prompt.value = "";
  send(text);
};
ui.prompt.onkeydown = (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) {
    ev.preventDefault();
    ui.composer.requestSubmit();
  }
};

load(ui.url.value, ui.url.value);
