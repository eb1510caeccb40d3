/**
 * Wire fields shared by /v1/completions and /v1/chat/completions: OpenAI's sampling parameters plus
 * vLLM's extras (`top_k`, `min_p`, `repetition_penalty`, `ignore_eos`, `min_tokens`,
 * `stop_token_ids`, `skip_special_tokens`). zod checks types here; ranges are checked afterwards by
 * `validateSamplingParams` against the loaded model. `null` means "not given" everywhere, as in
 * OpenAI's API; unknown fields are dropped.
 *
 * The request schemas here and in chat.ts, completions.ts and tokenize.ts are the one definition of
 * each request: the server parses with them (`z.output`), clients type what they send (`z.input`).
 * @module
 */
import { z } from "zod";

/** A JSON number that is an integer (1.0 counts; 1.5 does not). */
export const int = () => z.number().int();

const StopSchema = z.union([z.string(), z.array(z.string())], { error: "a string or a list of strings" });

const StreamOptionsSchema = z.object({
  include_usage: z.boolean().nullish(),
  continuous_usage_stats: z.boolean().nullish(),
});

export const samplingFields = {
  model: z.string().nullish(),
  n: int().nullish(),
  seed: int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  stop: StopSchema.nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptionsSchema.nullish(),
  max_tokens: int().nullish(),
  user: z.string().nullish(),
  // vLLM extras
  top_k: int().nullish(),
  min_p: z.number().nullish(),
  repetition_penalty: z.number().nullish(),
  ignore_eos: z.boolean().nullish(),
  min_tokens: int().nullish(),
  stop_token_ids: z.array(int()).nullish(),
  skip_special_tokens: z.boolean().nullish(),
  request_id: z.string().nullish(),
};

const samplingObject = z.object(samplingFields);
export type SamplingFields = z.output<typeof samplingObject>;
