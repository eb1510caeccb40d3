/**
 * `POST /v1/completions` request body (OpenAI's legacy completions plus vLLM's extras).
 * `prompt` is a string, a list of strings, a list of token ids, or a list of token-id lists.
 * @module
 */
import { z } from "zod";
import { int, samplingFields } from "./common.js";

const PromptSchema = z.union([z.string(), z.array(z.string()), z.array(int()), z.array(z.array(int()))], {
  error: "a string, a list of strings, a list of token ids (integers) or a list of token-id lists",
});

export const CompletionRequestSchema = z.object({
  ...samplingFields,
  prompt: PromptSchema,
  echo: z.boolean().nullish(),
  logprobs: int().nullish(),
  best_of: int().nullish(),
  suffix: z.string().nullish(),
  // vLLM extra
  add_special_tokens: z.boolean().nullish(),
});
export type CompletionRequest = z.output<typeof CompletionRequestSchema>;
export type CompletionCreateParams = z.input<typeof CompletionRequestSchema>;
