import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../common/errors.js";
import type { SamplingParams } from "../types.js";
import { defaultSamplingParams, ensureValidSamplingParams, validateSamplingParams, type SamplingLimits } from "./sampling-params.js";

const limits: SamplingLimits = { vocabSize: 1000, maxModelLen: 4096, maxLogprobs: 20, maxN: 16 };

function errorOf(input: Record<string, unknown>, lim: SamplingLimits = limits): InvalidRequestError {
  try {
    validateSamplingParams(input as Partial<SamplingParams>, lim);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidRequestError);
    return e as InvalidRequestError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("defaultSamplingParams", () => {
  it("matches vLLM/OpenAI defaults", () => {
    expect(defaultSamplingParams()).toMatchObject({
      n: 1,
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      presencePenalty: 0,
      frequencyPenalty: 0,
      repetitionPenalty: 1,
      minTokens: 0,
      stop: [],
      stopTokenIds: [],
      ignoreEos: false,
      seed: undefined,
      maxTokens: undefined,
      logprobs: undefined,
    });
  });

  it("returns a fresh object each time", () => {
    const a = defaultSamplingParams();
    a.stop.push("x");
    expect(defaultSamplingParams().stop).toEqual([]);
  });
});

describe("validateSamplingParams", () => {
  it("fills defaults for an empty request", () => {
    expect(validateSamplingParams({}, limits)).toEqual(defaultSamplingParams());
  });

  it("accepts boundary values and returns them unchanged", () => {
    const p = validateSamplingParams(
      {
        n: 16,
        temperature: 2,
        topK: 1000,
        topP: 1e-9,
        minP: 1,
        seed: -Number.MAX_SAFE_INTEGER,
        presencePenalty: -2,
        frequencyPenalty: 2,
        repetitionPenalty: 2,
        logitBias: { 0: -100, 999: 100 },
        maxTokens: 4096,
        minTokens: 4096,
        stop: ["a".repeat(1000)],
        stopTokenIds: [0, 999],
        ignoreEos: true,
        logprobs: 20,
        includeSpecialInText: true,
      },
      limits,
    );
    expect(p).toMatchObject({
      n: 16,
      temperature: 2,
      topK: 1000,
      topP: 1e-9,
      minP: 1,
      logitBias: { 0: -100, 999: 100 },
      maxTokens: 4096,
      minTokens: 4096,
    });
  });

  it("accepts top_k -1 and 0 (disabled), temperature 0 and logprobs 0", () => {
    expect(validateSamplingParams({ topK: -1, temperature: 0, logprobs: 0 }, limits)).toMatchObject({
      topK: -1,
      temperature: 0,
      logprobs: 0,
    });
    expect(validateSamplingParams({ topK: 0 }, limits).topK).toBe(0);
  });

  it("is idempotent on its own output", () => {
    const once = validateSamplingParams({ logitBias: { 7: 1.5 }, stop: ["x"], seed: 3, maxTokens: 10 }, limits);
    expect(validateSamplingParams(once, limits)).toEqual(once);
  });

  it("drops unknown fields and an empty logit_bias", () => {
    const p = validateSamplingParams({ logitBias: {}, bogus: 1 } as Partial<SamplingParams>, limits);
    expect(p.logitBias).toBeUndefined();
    expect("bogus" in p).toBe(false);
  });

  // [input, param, message fragment]
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ temperature: 3 }, "temperature", "temperature must be a number between 0 and 2 (got 3)"],
    [{ temperature: -0.1 }, "temperature", "(got -0.1)"],
    [{ temperature: NaN }, "temperature", "(got NaN)"],
    [{ temperature: Infinity }, "temperature", "(got Infinity)"],
    [{ temperature: "1" }, "temperature", '(got "1")'],
    [{ topP: 0 }, "top_p", "top_p must be a number greater than 0 and at most 1 (got 0)"],
    [{ topP: 1.5 }, "top_p", "(got 1.5)"],
    [{ topP: NaN }, "top_p", "(got NaN)"],
    [{ topK: -2 }, "top_k", "top_k must be -1 or 0 (disabled) or an integer between 1 and 1000 (got -2)"],
    [{ topK: 1001 }, "top_k", "(got 1001)"],
    [{ topK: 2.5 }, "top_k", "(got 2.5)"],
    [{ minP: -0.1 }, "min_p", "min_p must be a number between 0 and 1 (got -0.1)"],
    [{ minP: 1.1 }, "min_p", "(got 1.1)"],
    [{ presencePenalty: 2.5 }, "presence_penalty", "presence_penalty must be a number between -2 and 2 (got 2.5)"],
    [{ presencePenalty: -Infinity }, "presence_penalty", "(got -Infinity)"],
    [{ frequencyPenalty: -3 }, "frequency_penalty", "frequency_penalty must be a number between -2 and 2 (got -3)"],
    [{ repetitionPenalty: 0 }, "repetition_penalty", "repetition_penalty must be a number greater than 0 and at most 2 (got 0)"],
    [{ repetitionPenalty: 2.01 }, "repetition_penalty", "(got 2.01)"],
    [{ repetitionPenalty: NaN }, "repetition_penalty", "(got NaN)"],
    [{ logitBias: { 1000: 1 } }, "logit_bias", 'logit_bias keys must be token ids between 0 and 999 (got "1000")'],
    [{ logitBias: { "-1": 1 } }, "logit_bias", '(got "-1")'],
    [{ logitBias: { "1.5": 1 } }, "logit_bias", '(got "1.5")'],
    [{ logitBias: { abc: 1 } }, "logit_bias", '(got "abc")'],
    [{ logitBias: { 5: 101 } }, "logit_bias", "logit_bias values must be numbers between -100 and 100 (got 101 for token 5)"],
    [{ logitBias: { 5: NaN } }, "logit_bias", "(got NaN for token 5)"],
    [{ logitBias: [1, 2] }, "logit_bias", "logit_bias must be an object mapping token ids to biases (got an array of length 2)"],
    [{ logitBias: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [i, 1])) }, "logit_bias", "at most 300 entries (got 301)"],
    [{ maxTokens: 0 }, "max_tokens", "max_tokens must be an integer between 1 and 4096 (got 0)"],
    [{ maxTokens: 4097 }, "max_tokens", "(got 4097)"],
    [{ maxTokens: 1.5 }, "max_tokens", "(got 1.5)"],
    [{ maxTokens: Infinity }, "max_tokens", "(got Infinity)"],
    [{ minTokens: -1 }, "min_tokens", "min_tokens must be an integer between 0 and 4096 (got -1)"],
    [{ minTokens: 11, maxTokens: 10 }, "min_tokens", "min_tokens must be at most max_tokens (10) (got 11)"],
    [{ stop: "x" }, "stop", 'stop must be an array of strings (got "x")'],
    [{ stop: [""] }, "stop", "stop[0] must not be empty"],
    [{ stop: ["a", 5] }, "stop", "stop[1] must be a string (got 5)"],
    [{ stop: ["a".repeat(1001)] }, "stop", "stop[0] must be at most 1000 characters (got 1001)"],
    [{ stop: Array.from({ length: 17 }, () => "s") }, "stop", "stop may have at most 16 strings (got 17)"],
    [{ stop: ["\uD800x"] }, "stop", "stop[0] must be valid Unicode text"],
    [{ stopTokenIds: [1000] }, "stop_token_ids", "stop_token_ids[0] must be a token id between 0 and 999 (got 1000)"],
    [{ stopTokenIds: [1, -1] }, "stop_token_ids", "stop_token_ids[1] must be a token id between 0 and 999 (got -1)"],
    [{ stopTokenIds: 5 }, "stop_token_ids", "stop_token_ids must be an array of token ids (got 5)"],
    [{ logprobs: 21 }, "logprobs", "logprobs must be an integer between 0 and 20 (got 21)"],
    [{ logprobs: -1 }, "logprobs", "(got -1)"],
    [{ n: 0 }, "n", "n must be an integer between 1 and 16 (got 0)"],
    [{ n: 17 }, "n", "(got 17)"],
    [{ n: 1.5 }, "n", "(got 1.5)"],
    [{ seed: 1.5 }, "seed", `seed must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (got 1.5)`],
    [{ seed: 2 ** 53 }, "seed", "(got 9007199254740992)"],
    [{ seed: NaN }, "seed", "(got NaN)"],
    [{ ignoreEos: "yes" }, "ignore_eos", 'ignore_eos must be true or false (got "yes")'],
  ];

  it.each(cases)("rejects %j naming %s", (input, param, fragment) => {
    const e = errorOf(input);
    expect(e.param).toBe(param);
    expect(e.kind).toBe("invalid_request");
    expect(e.message).toContain(fragment);
  });

  it("honours custom limits", () => {
    const lim = { ...limits, maxStopStrings: 2, maxStopStringLength: 3, maxN: 4, maxLogprobs: 5, logprobsParamName: "top_logprobs" };
    expect(errorOf({ stop: ["a", "b", "c"] }, lim).message).toContain("at most 2 strings (got 3)");
    expect(errorOf({ stop: ["abcd"] }, lim).message).toContain("at most 3 characters (got 4)");
    expect(errorOf({ n: 5 }, lim).message).toContain("between 1 and 4 (got 5)");
    const e = errorOf({ logprobs: 6 }, lim);
    expect(e.param).toBe("top_logprobs");
    expect(e.message).toBe("top_logprobs must be an integer between 0 and 5 (got 6)");
  });

  it("never echoes a long user string", () => {
    const e = errorOf({ stop: "x".repeat(500) });
    expect(e.message).toContain("a string of length 500");
    expect(e.message.length).toBeLessThan(120);
  });
});

describe("ensureValidSamplingParams (checked once)", () => {
  const engine: SamplingLimits = { ...limits, maxLogprobs: 1024, maxN: 128, maxStopStrings: 1024 };

  it("trusts the very object validateSamplingParams returned under limits no looser than the engine's", () => {
    const checked = validateSamplingParams({ n: 4, stop: ["a", "b"] }, { ...limits, maxStopStrings: 20 });
    expect(ensureValidSamplingParams(checked, engine)).toBe(checked);
  });

  it("checks anything else: an unchecked object, a copy, or one checked under looser limits", () => {
    const raw = { ...defaultSamplingParams(), n: 4 };
    expect(ensureValidSamplingParams(raw, engine)).not.toBe(raw);
    expect(ensureValidSamplingParams(raw, engine)).toEqual(raw);
    const checked = validateSamplingParams({ n: 4 }, limits);
    expect(() => ensureValidSamplingParams({ ...checked, n: 500 }, engine)).toThrow(/n must be/);
    const loose = validateSamplingParams({ n: 200 }, { ...limits, maxN: 500 });
    expect(() => ensureValidSamplingParams(loose, engine)).toThrow(InvalidRequestError);
    const otherVocab = validateSamplingParams({ logitBias: { 999: 1 } }, limits);
    expect(() => ensureValidSamplingParams(otherVocab, { ...engine, vocabSize: 100 })).toThrow(/logit_bias/);
  });
});
