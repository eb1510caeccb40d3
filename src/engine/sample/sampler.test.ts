import { describe, expect, it } from "vitest";
import type { SamplingParams } from "../types.js";
import { Sampler } from "./sampler.js";
import { defaultSamplingParams } from "./sampling-params.js";

function params(overrides: Partial<SamplingParams> = {}): SamplingParams {
  return { ...defaultSamplingParams(), ...overrides };
}

function samplerFor(
  overrides: Partial<SamplingParams>,
  opts: { vocabSize: number; prompt?: number[]; eog?: number[]; seedOffset?: number },
): Sampler {
  return new Sampler(params(overrides), {
    promptTokenIds: opts.prompt ?? [],
    eogTokenIds: opts.eog ?? [],
    vocabSize: opts.vocabSize,
    ...(opts.seedOffset === undefined ? {} : { seedOffset: opts.seedOffset }),
  });
}

/** Deterministic pseudo-random logits in [-spread, spread]. */
function randomLogits(vocabSize: number, spread: number, seed = 1): Float32Array {
  const logits = new Float32Array(vocabSize);
  let x = seed >>> 0;
  for (let i = 0; i < vocabSize; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    logits[i] = ((x / 4_294_967_296) * 2 - 1) * spread;
  }
  return logits;
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Samples `times` tokens (each accepted) and returns the frequency of each id. */
function frequencies(sampler: Sampler, logits: Float32Array, times: number, accept = false): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < times; i++) {
    const { tokenId } = sampler.sample(logits);
    if (accept) sampler.accept(tokenId);
    counts.set(tokenId, (counts.get(tokenId) ?? 0) + 1);
  }
  return new Map([...counts].map(([id, c]) => [id, c / times]));
}

describe("Sampler: greedy", () => {
  it("returns the argmax, on small and Llama-4-sized vocabularies", () => {
    for (const [vocabSize, seed] of [
      [7, 1],
      [1000, 2],
      [202_048, 3],
    ] as const) {
      const logits = randomLogits(vocabSize, 10, seed);
      expect(samplerFor({ temperature: 0 }, { vocabSize }).sample(logits).tokenId).toBe(argmax(logits));
    }
  });

  it("breaks ties by the lowest id, whatever lane of the unrolled loop holds them", () => {
    for (const positions of [
      [3, 9],
      [2, 5, 6],
      [0, 7],
      [8, 12],
    ]) {
      const logits = new Float32Array(13).fill(-1);
      for (const p of positions) logits[p] = 5;
      expect(samplerFor({ temperature: 0 }, { vocabSize: 13 }).sample(logits).tokenId).toBe(positions[0]);
    }
  });

  it("ignores NaN logits and throws when no token is possible", () => {
    const logits = new Float32Array([NaN, 1, NaN, 2, NaN]);
    expect(samplerFor({ temperature: 0 }, { vocabSize: 5 }).sample(logits).tokenId).toBe(3);
    expect(() => samplerFor({ temperature: 0 }, { vocabSize: 2 }).sample(new Float32Array([NaN, -Infinity]))).toThrow(
      /no token can be sampled/,
    );
    expect(() => samplerFor({}, { vocabSize: 2 }).sample(new Float32Array([NaN, -Infinity]))).toThrow(/no token can be sampled/);
  });

  it("top_k 1 and a tiny top_p are greedy too", () => {
    const logits = randomLogits(5000, 3, 9);
    for (let s = 0; s < 5; s++) {
      expect(samplerFor({ topK: 1, seed: s }, { vocabSize: 5000 }).sample(logits).tokenId).toBe(argmax(logits));
      expect(samplerFor({ topP: 1e-9, seed: s }, { vocabSize: 5000 }).sample(logits).tokenId).toBe(argmax(logits));
      expect(samplerFor({ topK: 300, topP: 1e-9, seed: s }, { vocabSize: 5000 }).sample(logits).tokenId).toBe(argmax(logits));
      expect(samplerFor({ minP: 1, seed: s }, { vocabSize: 5000 }).sample(logits).tokenId).toBe(argmax(logits));
    }
  });

  it("rejects logits of the wrong length", () => {
    expect(() => samplerFor({}, { vocabSize: 4 }).sample(new Float32Array(5))).toThrow(/expected 4 logits/);
  });
});

describe("Sampler: seeding", () => {
  const logits = randomLogits(50_000, 1, 4);
  const run = (overrides: Partial<SamplingParams>, seedOffset?: number) => {
    const s = samplerFor(overrides, { vocabSize: 50_000, ...(seedOffset === undefined ? {} : { seedOffset }) });
    return Array.from({ length: 20 }, () => s.sample(logits).tokenId);
  };

  it("reproduces the same tokens for the same seed, on every path", () => {
    for (const p of [{}, { topP: 0.9 }, { topK: 40 }, { topK: 1000 }, { minP: 0.3 }, { temperature: 0.5, topP: 0.5, minP: 0.1 }]) {
      expect(run({ ...p, seed: 1234 })).toEqual(run({ ...p, seed: 1234 }));
    }
  });

  it("is pinned: the same seed gives these tokens on every machine", () => {
    expect(run({ seed: 42 }).slice(0, 5)).toEqual(PINNED_SEED_42);
  });

  it("differs between seeds and between completions (seedOffset) of one seed", () => {
    expect(run({ seed: 1 })).not.toEqual(run({ seed: 2 }));
    expect(run({ seed: 1 }, 0)).not.toEqual(run({ seed: 1 }, 1));
    expect(run({ seed: 1 }, 0)).toEqual(run({ seed: 1 }));
  });

  it("without a seed, two samplers differ", () => {
    expect(run({})).not.toEqual(run({}));
  });
});

/** Tokens for seed 42 over randomLogits(50_000, 1, 4): recorded once; a change means reproducibility broke. */
const PINNED_SEED_42 = [21796, 49111, 2008, 46885, 5411];

describe("Sampler: logit edits", () => {
  it("logit_bias +100 forces a token, -100 bans one", () => {
    const logits = randomLogits(20_000, 2, 5);
    const forced = samplerFor({ logitBias: { 777: 100 }, seed: 1 }, { vocabSize: 20_000 });
    for (let i = 0; i < 20; i++) expect(forced.sample(logits).tokenId).toBe(777);
    const top = argmax(logits);
    const banned = samplerFor({ temperature: 0, logitBias: { [top]: -100 } }, { vocabSize: 20_000 });
    expect(banned.sample(logits).tokenId).not.toBe(top);
  });

  it("leaves the caller's logits unchanged", () => {
    const logits = randomLogits(1000, 2, 6);
    const copy = logits.slice();
    const s = samplerFor(
      {
        logitBias: { 1: 50, 2: -50 },
        minTokens: 5,
        stopTokenIds: [3],
        repetitionPenalty: 1.5,
        presencePenalty: 1,
        frequencyPenalty: 1,
        seed: 1,
      },
      { vocabSize: 1000, prompt: [4, 5, 1], eog: [6] },
    );
    for (let i = 0; i < 10; i++) s.accept(s.sample(logits).tokenId);
    expect(logits).toEqual(copy);
  });

  it("min_tokens bans EOG and stop_token_ids until enough tokens are generated", () => {
    const logits = new Float32Array([10, 9, 1, 0]); // 0 = EOG, 1 = stop token id
    const s = samplerFor({ temperature: 0, minTokens: 2, stopTokenIds: [1] }, { vocabSize: 4, eog: [0] });
    const tokens = [];
    for (let i = 0; i < 3; i++) {
      const { tokenId } = s.sample(logits);
      tokens.push(tokenId);
      s.accept(tokenId);
    }
    expect(tokens).toEqual([2, 2, 0]);
    expect(s.numGeneratedTokens).toBe(3);
  });

  it("min_tokens with ignore_eos bans only stop_token_ids", () => {
    const logits = new Float32Array([10, 9, 1, 0]);
    const s = samplerFor({ temperature: 0, minTokens: 2, stopTokenIds: [1], ignoreEos: true }, { vocabSize: 4, eog: [0] });
    expect(s.sample(logits).tokenId).toBe(0);
    const t = samplerFor({ temperature: 0, minTokens: 2, stopTokenIds: [0], ignoreEos: true }, { vocabSize: 4, eog: [0] });
    expect(t.sample(logits).tokenId).toBe(1);
  });

  it("min_tokens bans EOG on the random path too", () => {
    const logits = new Float32Array([5, 5, 5, 5]);
    const s = samplerFor({ minTokens: 1000, seed: 3 }, { vocabSize: 4, eog: [1, 3] });
    const f = frequencies(s, logits, 2000);
    expect(f.get(1)).toBeUndefined();
    expect(f.get(3)).toBeUndefined();
  });

  it("repetition penalty divides positive and multiplies negative logits of prompt and output tokens", () => {
    const positive = new Float32Array([2.0, 1.9, -5]);
    expect(samplerFor({ temperature: 0, repetitionPenalty: 1.2 }, { vocabSize: 3, prompt: [0] }).sample(positive).tokenId).toBe(1);
    expect(samplerFor({ temperature: 0, repetitionPenalty: 1.01 }, { vocabSize: 3, prompt: [0] }).sample(positive).tokenId).toBe(0);
    const negative = new Float32Array([-1.0, -1.1, -5]);
    expect(samplerFor({ temperature: 0, repetitionPenalty: 1.2 }, { vocabSize: 3, prompt: [0] }).sample(negative).tokenId).toBe(1);
    // A penalty < 1 encourages repetition.
    expect(samplerFor({ temperature: 0, repetitionPenalty: 0.5 }, { vocabSize: 3, prompt: [1] }).sample(positive).tokenId).toBe(1);
    const out = samplerFor({ temperature: 0, repetitionPenalty: 1.2 }, { vocabSize: 3 });
    expect(out.sample(positive).tokenId).toBe(0);
    out.accept(0);
    expect(out.sample(positive).tokenId).toBe(1);
  });

  it("repetition penalty applies once per distinct token, however often it occurs", () => {
    const logits = new Float32Array([2.0, 1.5, -5]);
    const s = samplerFor({ temperature: 0, repetitionPenalty: 1.2 }, { vocabSize: 3, prompt: [0, 0, 0] });
    s.accept(0);
    s.accept(0);
    expect(s.sample(logits).tokenId).toBe(0); // 2.0 / 1.2 = 1.67 > 1.5; twice would be 1.39
  });

  it("presence penalty subtracts once per generated token; frequency per occurrence; prompt tokens do not count", () => {
    const logits = new Float32Array([1.0, 0.6, -5]);
    const presence = samplerFor({ temperature: 0, presencePenalty: 0.5 }, { vocabSize: 3, prompt: [0] });
    expect(presence.sample(logits).tokenId).toBe(0);
    presence.accept(0);
    expect(presence.sample(logits).tokenId).toBe(1);

    const frequency = samplerFor({ temperature: 0, frequencyPenalty: 0.15 }, { vocabSize: 3 });
    const chosen = [];
    for (let i = 0; i < 4; i++) {
      const { tokenId } = frequency.sample(logits);
      chosen.push(tokenId);
      frequency.accept(tokenId);
    }
    expect(chosen).toEqual([0, 0, 0, 1]); // 1.0 - 3 × 0.15 = 0.55 < 0.6

    const negative = samplerFor({ temperature: 0, presencePenalty: -1 }, { vocabSize: 3 });
    negative.accept(1);
    expect(negative.sample(logits).tokenId).toBe(1);
  });

  it("rejects accepting a token outside the vocabulary", () => {
    expect(() => samplerFor({}, { vocabSize: 3 }).accept(3)).toThrow(/between 0 and 2/);
  });
});

describe("Sampler: distributions", () => {
  const probs = [0.6, 0.3, 0.1];
  /** Logits ln(p) for ids 0..2, and -Infinity for the rest of a vocabulary of `vocabSize`. */
  function threeTokenLogits(vocabSize: number): Float32Array {
    const logits = new Float32Array(vocabSize).fill(-Infinity);
    probs.forEach((p, i) => (logits[i] = Math.log(p)));
    return logits;
  }
  const expectClose = (f: Map<number, number>, expected: number[]) => {
    expected.forEach((p, i) => expect(Math.abs((f.get(i) ?? 0) - p)).toBeLessThan(0.015));
    expect([...f.keys()].every((id) => id < expected.length && expected[id]! > 0)).toBe(true);
  };

  it("matches a known 3-token distribution over 20k draws (dense path, heap path, large vocabulary)", () => {
    expectClose(frequencies(samplerFor({ seed: 11 }, { vocabSize: 3 }), threeTokenLogits(3), 20_000), probs);
    expectClose(frequencies(samplerFor({ seed: 12, topK: 3 }, { vocabSize: 5 }), threeTokenLogits(5), 20_000), probs);
    expectClose(frequencies(samplerFor({ seed: 13 }, { vocabSize: 10_000 }), threeTokenLogits(10_000), 20_000), probs);
  });

  it("applies temperature", () => {
    const hot = probs.map((p) => Math.sqrt(p));
    const sum = hot.reduce((a, b) => a + b);
    expectClose(
      frequencies(samplerFor({ seed: 14, temperature: 2 }, { vocabSize: 3 }), threeTokenLogits(3), 20_000),
      hot.map((p) => p / sum),
    );
  });

  it("applies top_p (smallest prefix reaching p), top_k and min_p, renormalising", () => {
    const logits = threeTokenLogits(3);
    expectClose(frequencies(samplerFor({ seed: 15, topP: 0.85 }, { vocabSize: 3 }), logits, 20_000), [2 / 3, 1 / 3, 0]);
    expectClose(frequencies(samplerFor({ seed: 16, topP: 0.5 }, { vocabSize: 3 }), logits, 20_000), [1, 0, 0]);
    expectClose(frequencies(samplerFor({ seed: 17, topK: 2 }, { vocabSize: 3 }), logits, 20_000), [2 / 3, 1 / 3, 0]);
    expectClose(frequencies(samplerFor({ seed: 18, minP: 0.2 }, { vocabSize: 3 }), logits, 20_000), [2 / 3, 1 / 3, 0]);
    expectClose(frequencies(samplerFor({ seed: 19, minP: 0.1 }, { vocabSize: 3 }), logits, 20_000), probs);
  });
});

describe("Sampler: logprobs", () => {
  it("are log_softmax of the raw logits: exp sums to 1, chosen and top agree, most likely first", () => {
    const logits = randomLogits(6, 3, 7);
    const s = samplerFor(
      { logprobs: 6, temperature: 0.3, logitBias: { 0: 20 }, repetitionPenalty: 1.5, seed: 2 },
      { vocabSize: 6, prompt: [1] },
    );
    const { tokenId, logprobs } = s.sample(logits);
    expect(tokenId).toBe(0);
    expect(logprobs).toBeDefined();
    const top = logprobs!.top;
    expect(top).toHaveLength(6);
    expect(top.reduce((acc, t) => acc + Math.exp(t.logprob), 0)).toBeCloseTo(1, 10);
    for (let i = 1; i < top.length; i++) expect(top[i]!.logprob).toBeLessThanOrEqual(top[i - 1]!.logprob);
    expect(top[0]!.tokenId).toBe(argmax(logits));
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((acc, v) => acc + Math.exp(v - max), 0));
    expect(logprobs!.logprob).toBeCloseTo(logits[0]! - logZ, 10);
    expect(logprobs!.bytes).toEqual([]);
    expect(top.every((t) => t.bytes.length === 0)).toBe(true);
  });

  it("returns only the chosen token for logprobs 0 and nothing when undefined", () => {
    const logits = randomLogits(100, 3, 8);
    expect(samplerFor({ temperature: 0, logprobs: 0 }, { vocabSize: 100 }).sample(logits).logprobs!.top).toEqual([]);
    expect(samplerFor({ temperature: 0 }, { vocabSize: 100 }).sample(logits).logprobs).toBeUndefined();
  });

  it("agree between the reused-sum path (temperature 1) and the separate pass (greedy) on a large vocabulary", () => {
    const logits = randomLogits(202_048, 4, 9);
    const greedy = samplerFor({ temperature: 0, logprobs: 5 }, { vocabSize: 202_048 }).sample(logits).logprobs!;
    const random = samplerFor({ logprobs: 5, seed: 1 }, { vocabSize: 202_048 }).sample(logits).logprobs!;
    expect(random.top.map((t) => t.tokenId)).toEqual(greedy.top.map((t) => t.tokenId));
    random.top.forEach((t, i) => expect(t.logprob).toBeCloseTo(greedy.top[i]!.logprob, 9));
    expect(random.logprob).toBeCloseTo(logits[random.tokenId]! - (logits[greedy.tokenId]! - greedy.logprob), 9);
  });
});
