/**
 * Server-sent events exactly as the OpenAI clients parse them (openai-node `src/core/streaming.ts`):
 * every event is one `data: <json>\n\n` line; a successful stream ends with `data: [DONE]\n\n`; a
 * failure after the headers were sent is one `data: {"error":{…}}\n\n` event and then the stream
 * closes without `[DONE]` (openai-node turns that event into an `APIError`).
 *
 * The producer yields batches: all events of one batch (e.g. every choice's chunk for one engine step)
 * go out in one write.
 *
 * The stream is pull-based: the next batch is produced only when the HTTP layer wants more bytes, so
 * a slow client applies backpressure instead of growing a buffer. When the client goes away the
 * stream is cancelled, which aborts `signal` (and with it the engine request) and closes the producer.
 *
 * Under `herd serve` (Node bindings present) the events are written straight to Node's response
 * (`node-http.ts`); otherwise (`app.request()` in tests) the body is a web `ReadableStream`. Both
 * behave the same: `sse.test.ts` runs one suite against each.
 * @module
 */
import type { ServerResponse } from "node:http";
import { toErrorResponse } from "./errors.js";
import { deferStream, type NodeBindings } from "./node-http.js";

const encoder = new TextEncoder();
const DONE_TEXT = "data: [DONE]\n\n";
const DONE = encoder.encode(DONE_TEXT);

/** Several `data:` events with JSON payloads as one string (one write). JSON never contains a raw newline, so one line each suffices. */
function sseText(payloads: readonly unknown[]): string {
  let text = "";
  for (const p of payloads) text += `data: ${JSON.stringify(p)}\n\n`;
  return text;
}

/** The mid-stream error event (no `[DONE]` follows it). */
function sseErrorText(err: unknown): string {
  return sseText([toErrorResponse(err).body]);
}

const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
  "x-accel-buffering": "no",
};

export interface SSEOptions {
  headers?: Record<string, string>;
  /** Called once when the stream ends, for whatever reason (done, error or client gone). */
  onClose?: (outcome: "done" | "error" | "cancelled") => void;
  /** Called with the error that ended the stream (before it is written as an error event). */
  onError?: (err: unknown) => void;
}

type Produce = (signal: AbortSignal) => AsyncIterable<readonly unknown[]>;

/**
 * A `text/event-stream` Response whose events are the payloads `produce(signal)` yields, one batch
 * (array) at a time. `signal` aborts when the client disconnects (or `parentSignal` aborts). With
 * `node`, the response is a placeholder and the events go straight to Node's response.
 */
export function sseResponse(
  produce: Produce,
  parentSignal: AbortSignal | undefined,
  opts: SSEOptions = {},
  node: NodeBindings | null = null,
): Response {
  const headers = { ...SSE_HEADERS, ...opts.headers };
  const { ac, close } = streamLifecycle(parentSignal, opts);
  if (node) return deferStream(node, headers, new NodeSSE(produce, ac, close, opts));
  let iterator: AsyncIterator<readonly unknown[]> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        iterator ??= produce(ac.signal)[Symbol.asyncIterator]();
        let next = await iterator.next();
        while (!next.done && next.value.length === 0) next = await iterator.next();
        if (next.done) {
          controller.enqueue(DONE);
          controller.close();
          close("done");
        } else {
          controller.enqueue(encoder.encode(sseText(next.value)));
        }
      } catch (err) {
        if (ac.signal.aborted) {
          // The client is gone: nobody reads the error event.
          close("cancelled");
          controller.close();
          return;
        }
        opts.onError?.(err);
        controller.enqueue(encoder.encode(sseErrorText(err)));
        controller.close();
        close("error");
      }
    },
    cancel(reason) {
      ac.abort(reason ?? new Error("client disconnected"));
      close("cancelled");
      // Not awaited: a pending next() settles first (the abort above ends it promptly).
      iterator?.return?.().catch(() => {
        /* the producer already failed; nobody is left to tell */
      });
    },
  });
  return new Response(body, { status: 200, headers });
}

type Outcome = "done" | "error" | "cancelled";

/** What both transports share: the producer's signal (aborted with the parent's) and a once-only close. */
function streamLifecycle(
  parentSignal: AbortSignal | undefined,
  opts: SSEOptions,
): { ac: AbortController; close: (outcome: Outcome) => void } {
  const ac = new AbortController();
  const onParentAbort = () => ac.abort(parentSignal?.reason);
  if (parentSignal?.aborted) ac.abort(parentSignal.reason);
  else parentSignal?.addEventListener("abort", onParentAbort, { once: true });
  let closed = false;
  const close = (outcome: Outcome) => {
    if (closed) return;
    closed = true;
    parentSignal?.removeEventListener("abort", onParentAbort);
    opts.onClose?.(outcome);
  };
  return { ac, close };
}

/**
 * The same stream written to Node's response: a loop of `next()` → `write()`, waiting for `drain`
 * when the socket buffer is full (backpressure); the response's `close` before its end is the client
 * going away.
 */
class NodeSSE {
  constructor(
    readonly produce: Produce,
    readonly ac: AbortController,
    readonly close: (outcome: Outcome) => void,
    readonly opts: SSEOptions,
  ) {}

  /**
   * Never started (middleware replaced the placeholder; herd's own middleware does not): release what
   * `onClose` releases. The producer never ran, so an engine request its caller already started ends
   * with the HTTP request's signal or on its own.
   */
  cancel(reason: Error): void {
    this.ac.abort(reason);
    this.close("cancelled");
  }

  start(out: ServerResponse, status: number, headers: Record<string, string>): void {
    // No flushHeaders(): the head goes out with the first events, in one write (the first output is
    // already there: the handlers wait for it before they answer).
    out.writeHead(status, headers);
    void this.#pump(out);
  }

  async #pump(out: ServerResponse): Promise<void> {
    const ac = this.ac;
    const it = this.produce(ac.signal)[Symbol.asyncIterator]();
    const onClose = () => {
      if (out.writableFinished) return;
      ac.abort(new Error("client disconnected"));
      // Not awaited: a pending next() settles first (the abort above ends it promptly).
      it.return?.().catch(() => undefined);
    };
    out.on("close", onClose);
    try {
      for (;;) {
        const next = await it.next();
        if (next.done || ac.signal.aborted) break;
        if (next.value.length === 0) continue;
        if (!out.write(sseText(next.value))) await drained(out);
      }
      if (ac.signal.aborted) {
        this.close("cancelled");
        it.return?.().catch(() => undefined);
        out.destroy();
        return;
      }
      out.end(DONE_TEXT);
      this.close("done");
    } catch (err) {
      if (ac.signal.aborted) {
        // The client is gone: nobody reads the error event.
        this.close("cancelled");
        out.destroy();
        return;
      }
      this.opts.onError?.(err);
      out.end(sseErrorText(err));
      this.close("error");
    } finally {
      out.off("close", onClose);
    }
  }
}

/** Resolves when `out` can take more (or is gone). */
function drained(out: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}
