import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { APIError } from "openai";
import { Stream } from "openai/core/streaming";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CapacityError } from "../common/errors.js";
import { nodeBindings, nodeFetch } from "./node-http.js";
import { sseResponse, type SSEOptions } from "./sse.js";

type Produce = Parameters<typeof sseResponse>[0];

async function collect(res: Response): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of Stream.fromSSEResponse<unknown>(res, new AbortController())) out.push(item);
  return out;
}

const turn = () => new Promise((r) => setImmediate(r));

/** Waits until `cond()` holds, for at most `turns` event-loop turns (no clock: load does not matter). */
async function until(cond: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await turn();
}

/** Waits until `count()` has not changed for `turns` event-loop turns in a row (or passed `limit`); returns it. */
async function quiescent(count: () => number, turns: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
  let last = count();
  for (let still = 0; still < turns && last <= limit; still++) {
    await turn();
    if (count() !== last) {
      last = count();
      still = -1;
    }
  }
  return last;
}

/** `onClose` for `SSEOptions`, and a promise of the first outcome. */
function closeWatch() {
  const closes: string[] = [];
  let resolve!: (outcome: string) => void;
  const closed = new Promise<string>((r) => (resolve = r));
  return {
    closes,
    closed,
    onClose: (o: string) => {
      closes.push(o);
      resolve(o);
    },
  };
}

/**
 * The two ways a stream leaves the server: a web `ReadableStream` body (`app.request()`), and
 * straight to Node's response through a real node:http server (`herd serve`). One suite, both.
 */
interface Transport {
  name: string;
  open(produce: Produce, parent?: AbortSignal, opts?: SSEOptions): Promise<Response>;
}

const web: Transport = { name: "web ReadableStream", open: async (produce, parent, opts) => sseResponse(produce, parent, opts) };

let server: Server | undefined;
let nextStream: ((env: unknown) => Response) | undefined;
const node: Transport = {
  name: "node:http response",
  async open(produce, parent, opts) {
    nextStream = (env) => {
      const bindings = nodeBindings(env);
      if (!bindings) throw new Error("no node bindings");
      return sseResponse(produce, parent, opts, bindings);
    };
    const { port } = (server as Server).address() as AddressInfo;
    return fetch(`http://127.0.0.1:${port}/`);
  },
};

beforeAll(async () => {
  server = serve({
    fetch: nodeFetch((_req, env) => (nextStream as (env: unknown) => Response)(env)),
    port: 0,
    hostname: "127.0.0.1",
  }) as Server;
  await new Promise((resolve) => server?.once("listening", resolve));
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
});

describe("SSE event encoding", () => {
  it("frames one JSON object per data line, even with newlines in strings", async () => {
    const res = await web.open(async function* () {
      yield [{ a: "x\ny" }];
    });
    expect(await res.text()).toBe('data: {"a":"x\\ny"}\n\ndata: [DONE]\n\n');
  });
});

describe.each([web, node])("SSE over a $name", (t) => {
  it("is read back by openai-node, ending at [DONE]", async () => {
    const res = await t.open(async function* () {
      yield [{ n: 1 }];
      yield [];
      yield [{ n: 2, text: "héllo\n\ndata: not an event" }, { n: 3 }];
    }, undefined);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(await collect(res)).toEqual([{ n: 1 }, { n: 2, text: "héllo\n\ndata: not an event" }, { n: 3 }]);
  });

  it("ends the raw stream with data: [DONE]", async () => {
    const res = await t.open(async function* () {
      yield [{ n: 1 }, { n: 2 }];
    }, undefined);
    expect(await res.text()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
  });

  it("turns a mid-stream failure into an error event without [DONE], which openai-node throws", async () => {
    const closes: string[] = [];
    const make = () =>
      t.open(
        async function* () {
          yield [{ n: 1 }];
          throw new CapacityError("queue full");
        },
        undefined,
        { onClose: (o) => closes.push(o) },
      );
    const text = await (await make()).text();
    expect(text).toContain('data: {"error":{"message":"queue full","type":"rate_limit_error"');
    expect(text).not.toContain("[DONE]");
    await expect(collect(await make())).rejects.toBeInstanceOf(APIError);
    expect(closes).toEqual(["error", "error"]);
  });

  it("aborts the producer's signal when the client cancels", async () => {
    let signal: AbortSignal | undefined;
    const watch = closeWatch();
    const res = await t.open(
      async function* (s) {
        signal = s;
        for (let i = 0; ; i++) {
          yield [{ i }];
          await turn();
        }
      },
      undefined,
      { onClose: watch.onClose },
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(await watch.closed).toBe("cancelled");
    expect(signal?.aborted).toBe(true);
    expect(watch.closes).toEqual(["cancelled"]);
  });

  it("produces only as fast as the client reads (backpressure)", async () => {
    let produced = 0;
    const watch = closeWatch();
    const big = "x".repeat(64 * 1024);
    const res = await t.open(
      async function* () {
        for (;;) {
          produced++;
          yield [{ big }];
          await new Promise((r) => setImmediate(r));
        }
      },
      undefined,
      { onClose: watch.onClose },
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // A client that stops reading: the producer stops once the socket and stream buffers are full
    // (a few MiB at most). Unbounded, it would never stop making 64 KiB events.
    const stalled = await quiescent(() => produced, 50, 150);
    expect(stalled).toBeLessThan(150);
    expect(await quiescent(() => produced, 200, 150)).toBe(stalled);
    await reader.cancel();
    expect(await watch.closed).toBe("cancelled");
    expect(watch.closes).toEqual(["cancelled"]);
  });

  it("aborts when the parent (request) signal aborts", async () => {
    const parent = new AbortController();
    let signal: AbortSignal | undefined;
    const res = await t.open(async function* (s) {
      signal = s;
      yield [{ i: 0 }];
      await new Promise((r) => s.addEventListener("abort", r)); // still running when the parent aborts
    }, parent.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    parent.abort();
    await until(() => signal?.aborted === true);
    expect(signal?.aborted).toBe(true);
  });
});
