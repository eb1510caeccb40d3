import { describe, expect, it } from "vitest";
import { StreamBatcher, UsageCounter } from "./streaming.js";

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
    expect(u.usage([5, 7, 9])).toEqual({ prompt_tokens: 21, completion_tokens: 4, total_tokens: 25, prompt_tokens_details: { cached_tokens: 1 } });
  });
});
