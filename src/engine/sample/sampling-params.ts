/**
 * Defaults and validation of `SamplingParams`. The engine client validates every request once against
 * the engine's bounds before the engine sees it (the core and sampler trust what comes out of here);
 * the server maps its wire fields through here too, with its configured limits and wire names.
 *
 * Error messages name the parameter by its OpenAI/vLLM wire name (`top_p`, not `topP`) because the server
 * passes them to users unchanged, and say what is allowed and what was received.
 *
 * Rules (vLLM's `SamplingParams._verify_args`, with OpenAI's tighter ranges where the two differ):
 * | param | rule |
 * | --- | --- |
 * | n | integer, 1..maxN |
 * | temperature | 0..2 (OpenAI's range; vLLM accepts more, but above 2 output is noise); 0 = greedy |
 * | top_p | (0, 1]; 1 = disabled |
 * | top_k | -1 or 0 (disabled) or an integer 1..vocabSize |
 * | min_p | [0, 1]; 0 = disabled |
 * | presence_penalty, frequency_penalty | -2..2 (OpenAI) |
 * | repetition_penalty | (0, 2]; 1 = disabled. vLLM only requires > 0; above 2 every seen token is all but banned, so we reject it |
 * | logit_bias | at most 300 entries (OpenAI); keys integer token ids in [0, vocabSize); values -100..100 |
 * | max_tokens | unset, or an integer 1..maxModelLen |
 * | min_tokens | integer ≥ 0, ≤ max_tokens when set, ≤ maxModelLen |
 * | stop | ≤ maxStopStrings (default 16) strings, each non-empty, well-formed Unicode, ≤ maxStopStringLength (default 1,000) UTF-16 units |
 * | stop_token_ids | integer token ids in [0, vocabSize), at most 1,024 |
 * | logprobs / top_logprobs | unset, or an integer 0..maxLogprobs |
 * | seed | unset, or a safe integer (|seed| ≤ 2^53 - 1) |
 * | ignore_eos, include special tokens | booleans |
 * Every number must be finite: NaN and ±Infinity are rejected with the same messages.
 * @module
 */

import { InvalidRequestError } from "../../common/errors.js";
import type { SamplingParams } from "../types.js";

export interface SamplingLimits {
  vocabSize: number;
  maxModelLen: number;
  maxLogprobs: number;
  /** Default 16. */
  maxStopStrings?: number;
  /** In UTF-16 code units (JavaScript string length). Default 1,000. */
  maxStopStringLength?: number;
  maxN: number;
  /** Wire name reported for `logprobs` errors: "logprobs" (completions, the default) or "top_logprobs" (chat). */
  logprobsParamName?: string;
}

const DEFAULT_MAX_STOP_STRINGS = 16;
const DEFAULT_MAX_STOP_STRING_LENGTH = 1_000;
/** OpenAI's bound on logit_bias entries. */
const MAX_LOGIT_BIAS_ENTRIES = 300;
const MAX_STOP_TOKEN_IDS = 1_024;

export function defaultSamplingParams(): SamplingParams {
  return {
    n: 1,
    temperature: 1,
    topK: 0,
    topP: 1,
    minP: 0,
    seed: undefined,
    presencePenalty: 0,
    frequencyPenalty: 0,
    repetitionPenalty: 1,
    logitBias: undefined,
    maxTokens: undefined,
    minTokens: 0,
    stop: [],
    stopTokenIds: [],
    ignoreEos: false,
    logprobs: undefined,
    includeSpecialInText: false,
  };
}

/** Renders a received value for an error message: short, and never a long user string. */
function describe(value: unknown): string {
  if (typeof value === "number") return Object.is(value, -0) ? "0" : String(value);
  if (typeof value === "string") return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "object") return "an object";
  return String(value);
}

function invalid(param: string, message: string): InvalidRequestError {
  return new InvalidRequestError(message, { param });
}

function checkNumber(param: string, value: unknown, min: number, max: number, opts: { minExclusive?: boolean } = {}): number {
  const range = opts.minExclusive ? `greater than ${min} and at most ${max}` : `between ${min} and ${max}`;
  const ok = typeof value === "number" && Number.isFinite(value) && (opts.minExclusive ? value > min : value >= min) && value <= max;
  if (!ok) throw invalid(param, `${param} must be a number ${range} (got ${describe(value)})`);
  return value;
}

function checkInteger(param: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(param, `${param} must be an integer between ${min} and ${max} (got ${describe(value)})`);
  }
  return value;
}

function checkBoolean(param: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalid(param, `${param} must be true or false (got ${describe(value)})`);
  return value;
}

function checkTopK(value: unknown, vocabSize: number): number {
  const ok = typeof value === "number" && Number.isInteger(value) && value >= -1 && value <= vocabSize;
  if (!ok) throw invalid("top_k", `top_k must be -1 or 0 (disabled) or an integer between 1 and ${vocabSize} (got ${describe(value)})`);
  return value;
}

function checkSeed(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw invalid(
      "seed",
      `seed must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (got ${describe(value)})`,
    );
  }
  return value;
}

const TOKEN_ID_KEY = /^(0|[1-9][0-9]*)$/;

function checkLogitBias(value: unknown, vocabSize: number): Record<number, number> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalid("logit_bias", `logit_bias must be an object mapping token ids to biases (got ${describe(value)})`);
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_LOGIT_BIAS_ENTRIES) {
    throw invalid("logit_bias", `logit_bias may have at most ${MAX_LOGIT_BIAS_ENTRIES} entries (got ${entries.length})`);
  }
  if (entries.length === 0) return undefined;
  const out: Record<number, number> = {};
  for (const [key, bias] of entries) {
    const id = TOKEN_ID_KEY.test(key) ? Number(key) : NaN;
    if (!(id < vocabSize)) {
      throw invalid("logit_bias", `logit_bias keys must be token ids between 0 and ${vocabSize - 1} (got ${describe(key)})`);
    }
    if (typeof bias !== "number" || !Number.isFinite(bias) || bias < -100 || bias > 100) {
      throw invalid("logit_bias", `logit_bias values must be numbers between -100 and 100 (got ${describe(bias)} for token ${id})`);
    }
    out[id] = bias;
  }
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkStop(value: unknown, maxCount: number, maxLength: number): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid("stop", `stop must be an array of strings (got ${describe(value)})`);
  if (value.length > maxCount) throw invalid("stop", `stop may have at most ${maxCount} strings (got ${value.length})`);
  return value.map((s: unknown, i) => {
    if (typeof s !== "string") throw invalid("stop", `stop[${i}] must be a string (got ${describe(s)})`);
    if (s.length === 0) throw invalid("stop", `stop[${i}] must not be empty`);
    if (s.length > maxLength) throw invalid("stop", `stop[${i}] must be at most ${maxLength} characters (got ${s.length})`);
    if (LONE_SURROGATE.test(s)) throw invalid("stop", `stop[${i}] must be valid Unicode text (it contains a lone surrogate)`);
    return s;
  });
}

function checkStopTokenIds(value: unknown, vocabSize: number): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid("stop_token_ids", `stop_token_ids must be an array of token ids (got ${describe(value)})`);
  if (value.length > MAX_STOP_TOKEN_IDS) {
    throw invalid("stop_token_ids", `stop_token_ids may have at most ${MAX_STOP_TOKEN_IDS} entries (got ${value.length})`);
  }
  return value.map((id: unknown, i) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw invalid("stop_token_ids", `stop_token_ids[${i}] must be a token id between 0 and ${vocabSize - 1} (got ${describe(id)})`);
    }
    return id;
  });
}

/**
 * Fills defaults into `input` and checks every field; returns a new, complete `SamplingParams`.
 * Unknown fields are dropped. Throws `InvalidRequestError` (with `param` set to the wire name) on the
 * first invalid value.
 */
export function validateSamplingParams(input: Partial<SamplingParams>, limits: SamplingLimits): SamplingParams {
  const params = checkSamplingParams(input, limits);
  validated.set(params, limits);
  return params;
}

/** Each object `validateSamplingParams` returned, with the limits it was checked against. */
const validated = new WeakMap<SamplingParams, SamplingLimits>();

/**
 * `params` as checked before, when `validateSamplingParams` returned this very object under limits no
 * looser than `limits`; otherwise checked now. Lets the engine client trust what the server checked
 * (with the wire's parameter names) instead of checking every request twice.
 */
export function ensureValidSamplingParams(params: SamplingParams, limits: SamplingLimits): SamplingParams {
  const was = validated.get(params);
  const within =
    was !== undefined &&
    was.vocabSize === limits.vocabSize &&
    was.maxModelLen <= limits.maxModelLen &&
    was.maxLogprobs <= limits.maxLogprobs &&
    was.maxN <= limits.maxN &&
    (was.maxStopStrings ?? DEFAULT_MAX_STOP_STRINGS) <= (limits.maxStopStrings ?? DEFAULT_MAX_STOP_STRINGS) &&
    (was.maxStopStringLength ?? DEFAULT_MAX_STOP_STRING_LENGTH) <= (limits.maxStopStringLength ?? DEFAULT_MAX_STOP_STRING_LENGTH);
  return within ? params : validateSamplingParams(params, limits);
}

function checkSamplingParams(input: Partial<SamplingParams>, limits: SamplingLimits): SamplingParams {
  if (typeof input !== "object" || input === null)
    throw new InvalidRequestError(`sampling parameters must be an object (got ${describe(input)})`);
  const d = defaultSamplingParams();
  const pick = <K extends keyof SamplingParams>(key: K): unknown => (input[key] === undefined ? d[key] : input[key]);

  const maxTokensRaw = input.maxTokens;
  const maxTokens =
    maxTokensRaw === undefined || maxTokensRaw === null ? undefined : checkInteger("max_tokens", maxTokensRaw, 1, limits.maxModelLen);
  const minTokens = checkInteger("min_tokens", pick("minTokens"), 0, limits.maxModelLen);
  if (maxTokens !== undefined && minTokens > maxTokens) {
    throw invalid("min_tokens", `min_tokens must be at most max_tokens (${maxTokens}) (got ${minTokens})`);
  }
  const logprobsRaw = input.logprobs;
  const logprobsName = limits.logprobsParamName ?? "logprobs";
  const logprobs =
    logprobsRaw === undefined || logprobsRaw === null ? undefined : checkInteger(logprobsName, logprobsRaw, 0, limits.maxLogprobs);

  return {
    n: checkInteger("n", pick("n"), 1, limits.maxN),
    temperature: checkNumber("temperature", pick("temperature"), 0, 2),
    topK: checkTopK(pick("topK"), limits.vocabSize),
    topP: checkNumber("top_p", pick("topP"), 0, 1, { minExclusive: true }),
    minP: checkNumber("min_p", pick("minP"), 0, 1),
    seed: checkSeed(input.seed === null ? undefined : input.seed),
    presencePenalty: checkNumber("presence_penalty", pick("presencePenalty"), -2, 2),
    frequencyPenalty: checkNumber("frequency_penalty", pick("frequencyPenalty"), -2, 2),
    repetitionPenalty: checkNumber("repetition_penalty", pick("repetitionPenalty"), 0, 2, { minExclusive: true }),
    logitBias: checkLogitBias(input.logitBias, limits.vocabSize),
    maxTokens,
    minTokens,
    stop: checkStop(
      input.stop,
      limits.maxStopStrings ?? DEFAULT_MAX_STOP_STRINGS,
      limits.maxStopStringLength ?? DEFAULT_MAX_STOP_STRING_LENGTH,
    ),
    stopTokenIds: checkStopTokenIds(input.stopTokenIds, limits.vocabSize),
    ignoreEos: checkBoolean("ignore_eos", pick("ignoreEos")),
    logprobs,
    includeSpecialInText: checkBoolean("skip_special_tokens", pick("includeSpecialInText")),
    ...(input.grammar === undefined ? {} : { grammar: checkGrammar(input.grammar) }),
  };
}

/** GBNF text; its syntax is checked by llama.cpp when the engine compiles it. */
function checkGrammar(v: unknown): string {
  if (typeof v !== "string" || v.trim() === "") throw invalid("grammar", `grammar must be a non-empty GBNF string (got ${describe(v)})`);
  if (v.length > 100_000) throw invalid("grammar", `grammar must be at most 100000 characters (got ${v.length})`);
  return v;
}
