import { APIError } from "openai";
import { Stream } from "openai/core/streaming";
import { describe, expect, it } from "vitest";
import { CapacityError } from "../common/errors.js";
import { encodeSSE, sseResponse } from "./sse.js";

async function collect(res: Response): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of Stream.fromSSEResponse<unknown>(res, new AbortController())) out.push(item);
  return out;
}

describe("SSE framing", () => {
  it("frames one JSON object per data line, even with newlines in strings", () => {
    expect(new TextDecoder().decode(encodeSSE({ a: "x\ny" }))).toBe('data: {"a":"x\\ny"}\n\n');
  });

  it("is read back by openai-node, ending at [DONE]", async () => {
    const res = sseResponse(async function* () {
      yield [{ n: 1 }];
      yield [];
      yield [{ n: 2, text: "héllo\n\ndata: not an event" }, { n: 3 }];
    }, undefined);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(await collect(res)).toEqual([{ n: 1 }, { n: 2, text: "héllo\n\ndata: not an event" }, { n: 3 }]);
  });

  it("ends the raw stream with data: [DONE]", async () => {
    const res = sseResponse(async function* () {
      yield [{ n: 1 }, { n: 2 }];
    }, undefined);
    expect(await res.text()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
  });

  it("turns a mid-stream failure into an error event without [DONE], which openai-node throws", async () => {
    const closes: string[] = [];
    const make = () =>
      sseResponse(
        async function* () {
          yield [{ n: 1 }];
          throw new CapacityError("queue full");
        },
        undefined,
        { onClose: (o) => closes.push(o) },
      );
    const text = await make().text();
    expect(text).toContain('data: {"error":{"message":"queue full","type":"rate_limit_error"');
    expect(text).not.toContain("[DONE]");
    await expect(collect(make())).rejects.toBeInstanceOf(APIError);
    expect(closes).toEqual(["error", "error"]);
  });

  it("aborts the producer's signal when the client cancels", async () => {
    let signal: AbortSignal | undefined;
    const closes: string[] = [];
    const res = sseResponse(
      async function* (s) {
        signal = s;
        for (let i = 0; ; i++) {
          yield [{ i }];
          await new Promise((r) => setTimeout(r, 5));
        }
      },
      undefined,
      { onClose: (o) => closes.push(o) },
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(signal?.aborted).toBe(true);
    expect(closes).toEqual(["cancelled"]);
  });

  it("aborts when the parent (request) signal aborts", async () => {
    const parent = new AbortController();
    let signal: AbortSignal | undefined;
    const res = sseResponse(async function* (s) {
      signal = s;
      yield [{ i: 0 }];
    }, parent.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    parent.abort();
    expect(signal?.aborted).toBe(true);
  });
});
