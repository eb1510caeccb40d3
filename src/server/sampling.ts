/**
 * OpenAI/vLLM wire fields → the engine's `SamplingParams`. Types were checked by zod; this maps names,
 * checks the context length (prompt + max_tokens ≤ max-model-len; an unset max_tokens takes the rest
 * of the context or the endpoint's default), and leaves range checks to `validateSamplingParams`,
 * which names the OpenAI parameter in its errors.
 * @module
 */
import { ContextLengthExceededError } from "../common/errors.js";
import { validateSamplingParams } from "../engine/sample/sampling-params.js";
import type { SamplingParams } from "../engine/types.js";
import type { SamplingFields } from "../protocol/common.js";

export interface ServingLimits {
  vocabSize: number;
  maxModelLen: number;
  maxLogprobs: number;
  maxN: number;
  maxStopStrings: number;
}

export interface SamplingInput extends SamplingFields {
  /** Resolved by the endpoint: chat `max_completion_tokens ?? max_tokens`, completions `max_tokens`. */
  maxTokens: number | null | undefined;
  /** Alternatives per token; undefined = no logprobs. */
  logprobs: number | undefined;
  /** "top_logprobs" (chat) or "logprobs" (completions): the name errors report. */
  logprobsParamName: "top_logprobs" | "logprobs";
  /** Used when the request gives no max_tokens (completions: 16, chat: the rest of the context). */
  defaultMaxTokens: number | undefined;
  /** GBNF the output must follow (chat: tool_choice required/named, response_format), built by the server. */
  grammar?: string | undefined;
}

function given<T>(v: T | null | undefined): v is T {
  return v !== null && v !== undefined;
}

/**
 * The engine's sampling parameters for a request whose prompt has `numPromptTokens` tokens.
 * Throws InvalidRequestError (400) naming the parameter, or ContextLengthExceededError.
 */
export function toSamplingParams(input: SamplingInput, numPromptTokens: number, limits: ServingLimits): SamplingParams {
  if (numPromptTokens >= limits.maxModelLen) throw new ContextLengthExceededError(numPromptTokens, limits.maxModelLen);
  const room = limits.maxModelLen - numPromptTokens;
  let maxTokens: number;
  if (given(input.maxTokens)) {
    maxTokens = input.maxTokens;
    if (maxTokens > room) {
      throw new ContextLengthExceededError(
        numPromptTokens,
        limits.maxModelLen,
        ` and requests ${maxTokens} completion tokens (${numPromptTokens + maxTokens} in total)`,
      );
    }
  } else {
    maxTokens = Math.min(input.defaultMaxTokens ?? room, room);
  }
  const partial: Partial<SamplingParams> = {
    maxTokens,
    stop: given(input.stop) ? (typeof input.stop === "string" ? [input.stop] : input.stop) : [],
    ignoreEos: input.ignore_eos ?? false,
    includeSpecialInText: input.skip_special_tokens === false,
  };
  if (given(input.n)) partial.n = input.n;
  if (given(input.temperature)) partial.temperature = input.temperature;
  if (given(input.top_p)) partial.topP = input.top_p;
  if (given(input.top_k)) partial.topK = input.top_k;
  if (given(input.min_p)) partial.minP = input.min_p;
  if (given(input.seed)) partial.seed = input.seed;
  if (given(input.presence_penalty)) partial.presencePenalty = input.presence_penalty;
  if (given(input.frequency_penalty)) partial.frequencyPenalty = input.frequency_penalty;
  if (given(input.repetition_penalty)) partial.repetitionPenalty = input.repetition_penalty;
  if (given(input.min_tokens)) partial.minTokens = input.min_tokens;
  if (given(input.stop_token_ids)) partial.stopTokenIds = input.stop_token_ids;
  // Keys stay strings here; validateSamplingParams checks they are token ids.
  if (given(input.logit_bias)) partial.logitBias = input.logit_bias as unknown as Record<number, number>;
  if (input.logprobs !== undefined) partial.logprobs = input.logprobs;
  if (input.grammar !== undefined) partial.grammar = input.grammar;
  return validateSamplingParams(partial, {
    vocabSize: limits.vocabSize,
    maxModelLen: limits.maxModelLen,
    maxLogprobs: limits.maxLogprobs,
    maxN: limits.maxN,
    maxStopStrings: limits.maxStopStrings,
    logprobsParamName: input.logprobsParamName,
  });
}
