/**
 * `POST /tokenize` and `POST /detokenize` in vLLM's shape. `/tokenize` takes either `prompt`
 * (tokenized as /v1/completions does) or `messages` with the rest of chat's prompt fields
 * (`ChatPromptSchema`: tools, tool_choice, parallel_tool_calls, …; rendered as /v1/chat/completions
 * does), so its `count` equals the `prompt_tokens` those endpoints report.
 * @module
 */
import { z } from "zod";
import { ChatPromptSchema } from "./chat.js";
import { int } from "./common.js";

export const TokenizeRequestSchema = ChatPromptSchema.extend({
  model: z.string().nullish(),
  prompt: z.string().nullish(),
  messages: ChatPromptSchema.shape.messages.nullish(),
  add_special_tokens: z.boolean().nullish(),
  return_token_strs: z.boolean().nullish(),
});
export type TokenizeRequest = z.output<typeof TokenizeRequestSchema>;
export type TokenizeParams = z.input<typeof TokenizeRequestSchema>;

export const DetokenizeRequestSchema = z.object({
  model: z.string().nullish(),
  tokens: z.array(int()),
});
export type DetokenizeRequest = z.output<typeof DetokenizeRequestSchema>;
export type DetokenizeParams = z.input<typeof DetokenizeRequestSchema>;

export interface TokenizeResponse {
  count: number;
  max_model_len: number;
  tokens: number[];
  /** Each token's text (special tokens included), with `return_token_strs`; otherwise null. */
  token_strs: string[] | null;
}

export interface DetokenizeResponse {
  prompt: string;
}
