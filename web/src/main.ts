/**
 * herd's chat page: one conversation, streamed replies, a system prompt and sampling settings
 * (kept in localStorage), image attachments (file picker, drag and drop, paste; sent as data URLs),
 * a stop button, TTFT and tok/s under each reply, and an API key dialog when the server answers 401.
 * Model output is only ever inserted as text (never as HTML).
 */
import type { ChatCompletionContentPart, ChatCompletionCreateParams, ChatCompletionMessageParam } from "../../src/protocol/chat.js";
import { ApiError, listModels, type ReplyStats, streamChat } from "./api.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const ui = {
  model: $<HTMLSelectElement>("model"),
  status: $<HTMLSpanElement>("status"),
  messages: $<HTMLDivElement>("messages"),
  composer: $<HTMLFormElement>("composer"),
  input: $<HTMLTextAreaElement>("input"),
  file: $<HTMLInputElement>("file"),
  attachments: $<HTMLDivElement>("attachments"),
  send: $<HTMLButtonElement>("send"),
  stop: $<HTMLButtonElement>("stop"),
  settings: $<HTMLElement>("settings"),
  system: $<HTMLTextAreaElement>("system"),
  keyDialog: $<HTMLDialogElement>("key-dialog"),
  keyInput: $<HTMLInputElement>("key-input"),
  keyReason: $<HTMLParagraphElement>("key-reason"),
  dropOverlay: $<HTMLDivElement>("drop-overlay"),
};

/** Sampling inputs: element id → request field. Values persist in localStorage. */
type NumberField = "temperature" | "top_p" | "top_k" | "max_tokens" | "seed";
const NUMBER_FIELDS: [string, NumberField & keyof ChatCompletionCreateParams][] = [
  ["temperature", "temperature"],
  ["top-p", "top_p"],
  ["top-k", "top_k"],
  ["max-tokens", "max_tokens"],
  ["seed", "seed"],
];
const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

interface Attachment {
  name: string;
  url: string;
}

const state = {
  apiKey: localStorage.getItem("herd.apiKey") ?? "",
  history: [] as ChatCompletionMessageParam[],
  attachments: [] as Attachment[],
  controller: null as AbortController | null,
};

function setStatus(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

// ---- API key --------------------------------------------------------------------------------------

function askForKey(reason: string): Promise<boolean> {
  ui.keyReason.textContent = reason;
  ui.keyInput.value = state.apiKey;
  ui.keyDialog.showModal();
  return new Promise((resolve) => {
    ui.keyDialog.addEventListener(
      "close",
      () => {
        if (ui.keyDialog.returnValue !== "save") return resolve(false);
        state.apiKey = ui.keyInput.value.trim();
        localStorage.setItem("herd.apiKey", state.apiKey);
        resolve(true);
      },
      { once: true },
    );
  });
}

async function loadModels(): Promise<void> {
  for (;;) {
    try {
      const ids = await listModels(state.apiKey);
      ui.model.replaceChildren(...ids.map((id) => new Option(id, id)));
      setStatus(ids.length > 0 ? "" : "the server lists no model", ids.length === 0);
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        const reason = state.apiKey ? "That API key was refused. Enter the server's API key." : "This server requires an API key.";
        if (await askForKey(reason)) continue;
        setStatus("API key required", true);
        return;
      }
      setStatus(`cannot list models: ${(err as Error).message}`, true);
      return;
    }
  }
}

// ---- settings -------------------------------------------------------------------------------------

function restoreSettings(): void {
  ui.system.value = localStorage.getItem("herd.system") ?? "";
  ui.system.addEventListener("input", () => localStorage.setItem("herd.system", ui.system.value));
  for (const [id] of NUMBER_FIELDS) {
    const input = $<HTMLInputElement>(id);
    const saved = localStorage.getItem(`herd.${id}`);
    if (saved !== null) input.value = saved;
    input.addEventListener("input", () => localStorage.setItem(`herd.${id}`, input.value));
  }
}

function samplingFields(): Pick<ChatCompletionCreateParams, NumberField> {
  const out: Pick<ChatCompletionCreateParams, NumberField> = {};
  for (const [id, field] of NUMBER_FIELDS) {
    const raw = $<HTMLInputElement>(id).value.trim();
    if (raw === "") continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || (field === "top_k" && n === -1)) continue;
    out[field] = n;
  }
  return out;
}

// ---- attachments ----------------------------------------------------------------------------------

function readAsDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("read failed"));
    reader.readAsDataURL(file);
  });
}

async function addFiles(files: Iterable<File>): Promise<void> {
  for (const file of files) {
    if (!file.type.startsWith("image/")) {
      setStatus(`${file.name}: not an image`, true);
      continue;
    }
    if (file.size > MAX_IMAGE_BYTES) {
      setStatus(`${file.name}: larger than 20 MB`, true);
      continue;
    }
    state.attachments.push({ name: file.name, url: await readAsDataUrl(file) });
  }
  renderAttachments();
}

function renderAttachments(): void {
  ui.attachments.replaceChildren(
    ...state.attachments.map((a, i) => {
      const box = el("div", "thumb");
      const img = el("img");
      img.src = a.url;
      img.alt = a.name;
      const remove = el("button", "", "×");
      remove.type = "button";
      remove.title = `Remove ${a.name}`;
      remove.addEventListener("click", () => {
        state.attachments.splice(i, 1);
        renderAttachments();
      });
      box.append(img, remove);
      return box;
    }),
  );
}

// ---- messages -------------------------------------------------------------------------------------

function scrollDown(): void {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderEmpty(): void {
  ui.messages.replaceChildren(
    el("p", "empty", "Send a message to start. Settings are on the left; images can be attached, dropped or pasted."),
  );
}

function addUserBubble(text: string, images: readonly Attachment[]): void {
  ui.messages.querySelector(".empty")?.remove();
  const bubble = el("div", "msg user");
  if (images.length > 0) {
    const strip = el("div", "images");
    for (const a of images) {
      const img = el("img");
      img.src = a.url;
      img.alt = a.name;
      strip.append(img);
    }
    bubble.append(strip);
  }
  bubble.append(el("div", "text", text));
  ui.messages.append(bubble);
  scrollDown();
}

function describe(stats: ReplyStats): string {
  const parts: string[] = [];
  if (stats.ttftMs !== null) parts.push(`TTFT ${Math.round(stats.ttftMs)} ms`);
  parts.push(`${stats.numOutputTokens} tokens`);
  if (stats.tokensPerS !== null) parts.push(`${stats.tokensPerS.toFixed(1)} tok/s`);
  if (stats.stopped) parts.push("stopped");
  else if (stats.finishReason && stats.finishReason !== "stop") parts.push(`finish: ${stats.finishReason}`);
  return parts.join(" · ");
}

function setBusy(busy: boolean): void {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  if (!busy) ui.input.focus();
}

async function send(): Promise<void> {
  const text = ui.input.value.trim();
  if (state.controller || (!text && state.attachments.length === 0)) return;
  const images = state.attachments.splice(0);
  const content: string | ChatCompletionContentPart[] =
    images.length === 0
      ? text
      : [...images.map((a): ChatCompletionContentPart => ({ type: "image_url", image_url: { url: a.url } })), { type: "text", text }];
  addUserBubble(text, images);
  renderAttachments();
  ui.input.value = "";
  state.history.push({ role: "user", content });

  const bubble = el("div", "msg assistant streaming");
  const body = el("div", "text");
  const meta = el("div", "meta");
  bubble.append(body, meta);
  ui.messages.append(bubble);
  scrollDown();
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  const system = ui.system.value.trim();
  const messages: ChatCompletionMessageParam[] = system ? [{ role: "system", content: system }, ...state.history] : [...state.history];
  try {
    const stats = await streamChat({ model: ui.model.value, messages, ...samplingFields() }, state.apiKey, controller.signal, (piece) => {
      body.textContent += piece;
      scrollDown();
    });
    state.history.push({ role: "assistant", content: body.textContent ?? "" });
    meta.textContent = describe(stats);
    bubble.dataset.ttftMs = String(stats.ttftMs ?? "");
    bubble.dataset.tokens = String(stats.numOutputTokens);
    bubble.classList.toggle("stopped", stats.stopped);
  } catch (err) {
    state.history.pop(); // the failed turn is not part of the conversation
    bubble.classList.add("error");
    body.textContent = (err as Error).message;
    meta.textContent = err instanceof ApiError ? `HTTP ${err.status}` : "error";
    if (err instanceof ApiError && err.status === 401)
      void askForKey("This server requires an API key.").then(async (ok) => {
        if (ok) await loadModels();
      });
  } finally {
    bubble.classList.remove("streaming");
    state.controller = null;
    setBusy(false);
    scrollDown();
  }
}

// ---- wiring ---------------------------------------------------------------------------------------

function wire(): void {
  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    void send();
  });
  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.controller) state.controller.abort();
  });
  ui.stop.addEventListener("click", () => state.controller?.abort());
  ui.file.addEventListener("change", () => {
    void addFiles(ui.file.files ?? []).then(() => (ui.file.value = ""));
  });
  ui.input.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
    if (files.length > 0) void addFiles(files);
  });
  let dragDepth = 0;
  document.addEventListener("dragenter", (e) => {
    if (!e.dataTransfer?.types.includes("Files")) return;
    dragDepth++;
    ui.dropOverlay.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    if (--dragDepth <= 0) ui.dropOverlay.hidden = true;
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    ui.dropOverlay.hidden = true;
    if (e.dataTransfer?.files.length) void addFiles(e.dataTransfer.files);
  });
  $("new-chat").addEventListener("click", () => {
    state.controller?.abort();
    state.history = [];
    renderEmpty();
  });
  $("toggle-settings").addEventListener("click", (e) => {
    const hidden = ui.settings.classList.toggle("hidden");
    (e.currentTarget as HTMLButtonElement).setAttribute("aria-expanded", String(!hidden));
  });
  $("change-key").addEventListener("click", () => {
    void askForKey("The key is sent as 'Authorization: Bearer <key>' and kept in this browser.").then(async (ok) => {
      if (ok) await loadModels();
    });
  });
}

restoreSettings();
renderEmpty();
wire();
void loadModels();
