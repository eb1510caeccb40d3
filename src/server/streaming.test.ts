import { describe, expect, it } from "vitest";
import { primeGenerator, StreamBatcher, UsageCounter } from "./streaming.js";

describe("primeGenerator", () => {
  it("has pulled the first item (errors before any output surface here), then replays it and continues", async () => {
    const pulled: number[] = [];
    async function* source() {
      for (const i of [1, 2, 3]) {
        pulled.push(i);
        yield i;
      }
    }
    const g = await primeGenerator(source());
    expect(pulled).toEqual([1]);
    const seen: number[] = [];
    for await (const v of g) seen.push(v);
    expect(seen).toEqual([1, 2, 3]);
    async function* failing(): AsyncGenerator<number> {
      if (pulled.length > 0) throw new Error("queue full");
      yield 0;
    }
    await expect(primeGenerator(failing())).rejects.toThrow("queue full");
  });

  it("return() closes the source, running its finally", async () => {
    let closed = false;
    async function* source() {
      try {
        yield 1;
        yield 2;
      } finally {
        closed = true;
      }
    }
    const g = await primeGenerator(source());
    expect((await g.next()).value).toBe(1);
    await g.return(undefined);
    expect(closed).toBe(true);
    expect((await g.next()).done).toBe(true);
  });
});

describe("StreamBatcher", () => {
  it("writes every output when the interval is 1", () => {
    const b = new StreamBatcher(1);
    expect(b.push([{ a: 1 }])).toEqual([{ a: 1 }]);
    expect(b.push([{ a: 2 }, { a: 3 }])).toEqual([{ a: 2 }, { a: 3 }]);
    expect(b.take()).toEqual([]);
  });

  it("sends the first output at once, then every interval-th, and the rest at the end", () => {
    const b = new StreamBatcher(3);
    const written = [1, 2, 3, 4, 5, 6, 7].map((i) => b.push([{ i }]));
    expect(written).toEqual([[{ i: 1 }], null, [{ i: 2 }, { i: 3 }], null, null, [{ i: 4 }, { i: 5 }, { i: 6 }], null]);
    expect(b.take()).toEqual([{ i: 7 }]);
  });
});

describe("UsageCounter", () => {
  it("counts each prompt once and every generated token", () => {
    const u = new UsageCounter();
    u.add(0, 5, 1, 1);
    u.add(0, 5, 1, 2);
    u.add(1, 7, 0, 1);
    expect(u.usage([5, 7, 9])).toEqual({
      prompt_tokens: 21,
      completion_tokens: 4,
      total_tokens: 25,
      prompt_tokens_details: { cached_tokens: 1 },
    });
  });
});
