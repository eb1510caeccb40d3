/**
 * Renders large chat conversations on a worker thread, so a request with thousands of messages
 * (up to the 8 MiB body limit: 200,000 took `@huggingface/jinja` 2–3 s) never holds the API server's
 * event loop. One worker per process, started on first use; small conversations render inline.
 * This file is also the worker's entry: it compiles each template source once and renders what it
 * is sent.
 * @module
 */
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { Template } from "@huggingface/jinja";

interface RenderJob {
  id: number;
  source: string;
  vars: Record<string, unknown>;
}
type RenderReply = { id: number; text: string } | { id: number; error: string };

/** Conversations with more messages than this render on the worker thread. */
export const WORKER_MESSAGE_THRESHOLD = 256;
/** …and so do those whose `chat_template_kwargs` serialize to more characters than this. */
export const WORKER_KWARGS_CHARS = 65_536;

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();

function startWorker(): Worker {
  // From source (tests, tsx) the worker registers the TypeScript loader before importing this file.
  const w = import.meta.url.endsWith(".ts")
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { ` +
          `m.register(); return import(${JSON.stringify(import.meta.url)}); });`,
        { eval: true },
      )
    : new Worker(new URL(import.meta.url));
  w.unref();
  w.on("message", (m: RenderReply) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (!p) return;
    if ("error" in m) p.reject(new TemplateRenderError(m.error));
    else p.resolve(m.text);
  });
  const fail = (err: Error) => {
    if (worker !== w) return; // an 'exit' after 'error': this worker was already replaced
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = null;
  };
  w.on("error", fail);
  w.on("exit", (code) => fail(new Error(`the template worker exited (code ${code})`)));
  return w;
}

/** The template itself failed (e.g. `raise_exception`): the caller's 400. */
export class TemplateRenderError extends Error {}

/** Renders `source` with `vars` on the worker thread. */
export function renderOnWorker(source: string, vars: Record<string, unknown>): Promise<string> {
  worker ??= startWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker!.postMessage({ id, source, vars } satisfies RenderJob);
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const compiled = new Map<string, Template>();
  port.on("message", (job: RenderJob) => {
    try {
      let t = compiled.get(job.source);
      if (!t) {
        t = new Template(job.source);
        compiled.set(job.source, t);
      }
      port.postMessage({ id: job.id, text: t.render(job.vars) } satisfies RenderReply);
    } catch (err) {
      port.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies RenderReply);
    }
  });
}
