/**
 * The benchmark's synthetic workloads. Every dataset yields conversations; all but `multiturn` have
 * one turn each, so the load generator has a single unit of work.
 *
 * - `random`: prompts of `--random-input-len` words (± `--random-range-ratio`), optionally behind a
 *   common `--random-prefix-len` prefix; `--random-output-len` tokens out (vLLM's RandomDataset).
 * - `prefix`: `--prefix-repetition-num-prefixes` long shared prefixes (a system prompt on the chat
 *   endpoint) of `--prefix-repetition-prefix-len`, each followed by a distinct question of
 *   `--prefix-repetition-suffix-len` (vLLM's PrefixRepetitionRandomDataset), shuffled.
 * - `prefix_repetition`: vLLM's own layout of the same flags: each prompt is one text, a prefix of
 *   `--prefix-repetition-prefix-len` words followed by a suffix of `--prefix-repetition-suffix-len`
 *   words, `--prefix-repetition-num-prefixes` distinct prefixes (tenants) that share nothing, an
 *   equal share of the prompts each, shuffled. Lengths are in words (about one token each, see
 *   words.ts), not tokenizer-exact; the real counts come back in `usage`.
 * - `multiturn`: conversations of `--multiturn-num-turns` user turns; each turn is sent with the whole
 *   history, the server's own replies included (chat only).
 * - `image`: a random prompt plus 1–5 synthetic PNG images per request, sent as data URLs (chat only;
 *   vLLM's random-mm item counts).
 * @module
 */
import type { Conversation, DatasetName, ImageSpec, SampleRequest } from "../types.js";
import { Rng } from "./rng.js";
import { randomWords } from "./words.js";

export interface DatasetOptions {
  readonly numPrompts: number;
  readonly seed: number;
  readonly randomInputLen: number;
  readonly randomOutputLen: number;
  readonly randomRangeRatio: number;
  readonly randomPrefixLen: number;
  readonly prefixLen: number;
  readonly suffixLen: number;
  readonly numPrefixes: number;
  readonly prefixOutputLen: number;
  readonly numTurns: number;
  readonly mmBaseItemsPerRequest: number;
  readonly mmNumItemsRangeRatio: number;
  readonly imageWidth: number;
  readonly imageHeight: number;
}

/** vLLM's length range: [floor(n·(1−r)), ceil(n·(1+r))], at least 1. */
export function lengthRange(n: number, ratio: number): [number, number] {
  return [Math.max(1, Math.floor(n * (1 - ratio))), Math.max(1, Math.ceil(n * (1 + ratio)))];
}

function randomSample(rng: Rng, o: DatasetOptions, prefix: string): SampleRequest {
  const [inLo, inHi] = lengthRange(o.randomInputLen, o.randomRangeRatio);
  const [outLo, outHi] = lengthRange(o.randomOutputLen, o.randomRangeRatio);
  const numInput = rng.int(inLo, inHi);
  return {
    prompt: prefix + randomWords(rng, numInput),
    numPromptTokens: o.randomPrefixLen + numInput,
    numOutputTokens: rng.int(outLo, outHi),
  };
}

function makeRandom(rng: Rng, o: DatasetOptions): Conversation[] {
  const prefix = o.randomPrefixLen > 0 ? randomWords(rng, o.randomPrefixLen) : "";
  return Array.from({ length: o.numPrompts }, () => ({ turns: [randomSample(rng, o, prefix)] }));
}

function makePrefix(rng: Rng, o: DatasetOptions): Conversation[] {
  const numPrefixes = Math.max(1, Math.min(o.numPrefixes, o.numPrompts));
  const prefixes = Array.from(
    { length: numPrefixes },
    (_, i) => `You are assistant number ${i}. Background:${randomWords(rng, o.prefixLen)}`,
  );
  const out: Conversation[] = [];
  for (let i = 0; i < o.numPrompts; i++) {
    const system = prefixes[i % numPrefixes]!;
    const prompt = randomWords(rng, o.suffixLen).trimStart() + "?";
    out.push({ turns: [{ system, prompt, numPromptTokens: o.prefixLen + o.suffixLen + 6, numOutputTokens: o.prefixOutputLen }] });
  }
  return rng.shuffle(out);
}

/**
 * vLLM's PrefixRepetitionRandomDataset: `numPrompts / numPrefixes` prompts per prefix (the remainder
 * spread over the first prefixes, where vLLM drops it), prompt = prefix + suffix, then shuffled.
 */
function makePrefixRepetition(rng: Rng, o: DatasetOptions): Conversation[] {
  const numPrefixes = Math.max(1, Math.min(o.numPrefixes, o.numPrompts));
  const prefixes = Array.from({ length: numPrefixes }, () => randomWords(rng, o.prefixLen));
  const out: Conversation[] = [];
  for (let i = 0; i < o.numPrompts; i++) {
    const prompt = prefixes[i % numPrefixes]! + randomWords(rng, o.suffixLen);
    out.push({ turns: [{ prompt, numPromptTokens: o.prefixLen + o.suffixLen, numOutputTokens: o.prefixOutputLen }] });
  }
  return rng.shuffle(out);
}

function makeMultiturn(rng: Rng, o: DatasetOptions): Conversation[] {
  const numTurns = Math.max(1, o.numTurns);
  const out: Conversation[] = [];
  for (let left = o.numPrompts; left > 0; left -= numTurns) {
    const turns = Array.from({ length: Math.min(numTurns, left) }, () => randomSample(rng, o, ""));
    out.push({ system: "You are a helpful assistant.", turns });
  }
  return out;
}

function makeImage(rng: Rng, o: DatasetOptions): Conversation[] {
  const [lo, hi] = lengthRange(o.mmBaseItemsPerRequest, o.mmNumItemsRangeRatio);
  return Array.from({ length: o.numPrompts }, () => {
    const images: ImageSpec[] = Array.from({ length: rng.int(lo, hi) }, () => ({
      width: o.imageWidth,
      height: o.imageHeight,
      seed: rng.int(0, 2 ** 31),
    }));
    return { turns: [{ ...randomSample(rng, o, ""), images }] };
  });
}

export function makeDataset(name: DatasetName, o: DatasetOptions): Conversation[] {
  const rng = new Rng(o.seed);
  switch (name) {
    case "random":
      return makeRandom(rng, o);
    case "prefix":
      return makePrefix(rng, o);
    case "prefix_repetition":
      return makePrefixRepetition(rng, o);
    case "multiturn":
      return makeMultiturn(rng, o);
    case "image":
      return makeImage(rng, o);
    default:
      return name satisfies never;
  }
}

/** Datasets that need the chat endpoint (messages with history or images). */
export function needsChat(name: DatasetName): boolean {
  return name === "multiturn" || name === "image";
}
