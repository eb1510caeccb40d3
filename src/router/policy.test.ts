import { describe, expect, it } from "vitest";
import {
  CacheAwarePolicy,
  createPolicy,
  DEFAULT_CACHE_AWARE,
  isImbalanced,
  POLICY_NAMES,
  PowerOfTwoPolicy,
  type WorkerLoad,
} from "./policy.js";

const workers = (...loads: number[]): WorkerLoad[] => loads.map((numInflight, i) => ({ url: `http://w${i}`, numInflight }));

describe("cache_aware", () => {
  it("sends a repeated prefix to the same worker and a new one to the least cached", () => {
    const p = new CacheAwarePolicy();
    const ws = workers(0, 0);
    const a1 = p.select(ws, "SYSTEM A: you are a pirate. user: hi");
    expect(a1.reason).toBe("least_cached");
    const b1 = p.select(ws, "SYSTEM B: you are a poet. user: hi");
    expect(b1.reason).toBe("least_cached");
    expect(b1.worker).not.toBe(a1.worker); // the other tree was empty
    for (const q of ["how are you", "tell me a story", "bye"]) {
      const a = p.select(ws, `SYSTEM A: you are a pirate. user: ${q}`);
      expect(a.worker).toBe(a1.worker);
      expect(a.reason).toBe("cache_hit");
      expect(a.matchedChars).toBeGreaterThanOrEqual("SYSTEM A: you are a pirate. user: ".length);
      expect(p.select(ws, `SYSTEM B: you are a poet. user: ${q}`).worker).toBe(b1.worker);
    }
  });

  it("routes by cache only at or above the threshold", () => {
    const p = new CacheAwarePolicy({ ...DEFAULT_CACHE_AWARE, cacheThreshold: 0.9 });
    const ws = workers(0, 0);
    const first = p.select(ws, "0123456789");
    // 5 of 10 characters match: below 0.9, so the emptier tree wins.
    const second = p.select(ws, "01234abcde");
    expect(second.reason).toBe("least_cached");
    expect(second.worker).not.toBe(first.worker);
  });

  it("balances load when both thresholds are exceeded", () => {
    const p = new CacheAwarePolicy({ ...DEFAULT_CACHE_AWARE, balanceAbsThreshold: 2, balanceRelThreshold: 1.5 });
    const ws = workers(0, 0);
    const first = p.select(ws, "prompt");
    const busy = ws.map((w) => ({ ...w, numInflight: w === first.worker ? 5 : 1 }));
    const d = p.select(busy, "prompt");
    expect(d.reason).toBe("load_balance");
    expect(d.worker.url).not.toBe(first.worker.url);
    // Within the thresholds the cache wins.
    const calm = ws.map((w) => ({ ...w, numInflight: w === first.worker ? 3 : 1 }));
    expect(p.select(calm, "prompt").reason).toBe("cache_hit");
  });

  it("isImbalanced needs both the absolute and the relative gap", () => {
    expect(isImbalanced(workers(40, 0), 32, 1.0001)).toBe(true);
    expect(isImbalanced(workers(32, 0), 32, 1.0001)).toBe(false);
    expect(isImbalanced(workers(100, 60), 32, 2)).toBe(false);
    expect(isImbalanced(workers(100), 0, 1)).toBe(false);
  });

  it("forgets a removed worker's tree", () => {
    const p = new CacheAwarePolicy();
    const ws = workers(0);
    p.select(ws, "hello");
    expect(p.treeChars("http://w0")).toBe(5);
    p.removeWorker("http://w0");
    expect(p.treeChars("http://w0")).toBe(0);
  });
});

describe("simple policies", () => {
  it("round_robin cycles", () => {
    const p = createPolicy("round_robin");
    const ws = workers(0, 0, 0);
    expect([0, 1, 2, 3].map(() => p.select(ws, "").worker.url)).toEqual(["http://w0", "http://w1", "http://w2", "http://w0"]);
  });

  it("power_of_two picks the less loaded of two draws", () => {
    const draws = [0, 0.9];
    const p = new PowerOfTwoPolicy(() => draws.shift() ?? 0);
    expect(p.select(workers(5, 1)).worker.url).toBe("http://w1");
  });

  it("every name resolves", () => {
    for (const name of POLICY_NAMES) expect(createPolicy(name).name).toBe(name);
  });
});
