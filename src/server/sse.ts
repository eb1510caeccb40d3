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
 * @module
 */
import { toErrorResponse } from "./errors.js";

const encoder = new TextEncoder();
const DONE = encoder.encode("data: [DONE]\n\n");

/** One SSE `data:` event with a JSON payload. JSON never contains a raw newline, so one line suffices. */
export function encodeSSE(payload: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(payload)}\n\n`);
}

/** Several events as one write. */
export function encodeSSEBatch(payloads: readonly unknown[]): Uint8Array {
  let text = "";
  for (const p of payloads) text += `data: ${JSON.stringify(p)}\n\n`;
  return encoder.encode(text);
}

/** The mid-stream error event (no `[DONE]` follows it). */
export function encodeSSEError(err: unknown): Uint8Array {
  return encodeSSE(toErrorResponse(err).body);
}

export const SSE_HEADERS: Readonly<Record<string, string>> = {
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

/**
 * A `text/event-stream` Response whose events are the payloads `produce(signal)` yields, one batch
 * (array) at a time. `signal` aborts when the client disconnects (or `parentSignal` aborts).
 */
export function sseResponse(
  produce: (signal: AbortSignal) => AsyncIterable<readonly unknown[]>,
  parentSignal: AbortSignal | undefined,
  opts: SSEOptions = {},
): Response {
  const ac = new AbortController();
  const onParentAbort = () => ac.abort(parentSignal?.reason);
  if (parentSignal?.aborted) ac.abort(parentSignal.reason);
  else parentSignal?.addEventListener("abort", onParentAbort, { once: true });

  let iterator: AsyncIterator<readonly unknown[]> | undefined;
  let closed = false;
  const close = (outcome: "done" | "error" | "cancelled") => {
    if (closed) return;
    closed = true;
    parentSignal?.removeEventListener("abort", onParentAbort);
    opts.onClose?.(outcome);
  };

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
          controller.enqueue(encodeSSEBatch(next.value));
        }
      } catch (err) {
        if (ac.signal.aborted) {
          // The client is gone: nobody reads the error event.
          close("cancelled");
          controller.close();
          return;
        }
        opts.onError?.(err);
        controller.enqueue(encodeSSEError(err));
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
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...opts.headers } });
}
