/**
 * Sampler throughput at Llama 4's vocabulary size: `npx vitest bench --run src/engine/sample`.
 * Logits are a near-flat random distribution (the worst case for top-p: the nucleus is most of the vocabulary).
 */
import { bench, describe } from "vitest";
import { defaultSamplingParams } from "./sampling-params.js";
import { Sampler } from "./sampler.js";
import type { SamplingParams } from "../types.js";

const V = 202_048;

function randomLogits(spread: number, seed = 1): Float32Array {
  const logits = new Float32Array(V);
  let x = seed;
  for (let i = 0; i < V; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    logits[i] = ((x / 4_294_967_296) * 2 - 1) * spread;
  }
  return logits;
}

const flat = randomLogits(2);
const peaked = randomLogits(20);

function samplerFor(overrides: Partial<SamplingParams>): Sampler {
  return new Sampler({ ...defaultSamplingParams(), seed: 1, ...overrides }, { promptTokenIds: [1, 2, 3], eogTokenIds: [0], vocabSize: V });
}

for (const [name, logits] of [
  ["flat", flat],
  ["peaked", peaked],
] as const) {
  describe(`sample() V=${V}, ${name} logits`, () => {
    const cases: Array<[string, Partial<SamplingParams>]> = [
      ["greedy", { temperature: 0 }],
      ["temperature 0.8", { temperature: 0.8 }],
      ["temperature 0.8 + top_p 0.9", { temperature: 0.8, topP: 0.9 }],
      ["top_k 40", { topK: 40 }],
      ["top_k 1000", { topK: 1000 }],
      ["min_p 0.05", { minP: 0.05 }],
      ["greedy + logprobs 5", { temperature: 0, logprobs: 5 }],
      ["temperature 1 + logprobs 5", { logprobs: 5 }],
      ["top_p 0.9 + penalties", { topP: 0.9, repetitionPenalty: 1.1, presencePenalty: 0.5, logitBias: { 5: 3 } }],
    ];
    for (const [label, params] of cases) {
      const sampler = samplerFor(params);
      bench(
        label,
        () => {
          sampler.accept(sampler.sample(logits).tokenId);
        },
        { time: 400 },
      );
    }
  });
}
