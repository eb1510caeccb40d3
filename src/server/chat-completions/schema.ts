/**
 * `POST /v1/chat/completions` request body (OpenAI's shape plus vLLM's extras).
 * @module
 */
import { z } from "zod";
import { int, samplingFields } from "../protocol/common.js";

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const ImagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: z.string(), detail: z.string().nullish() }),
});
const ContentPart = z.discriminatedUnion("type", [TextPart, ImagePart]);
export type ContentPart = z.output<typeof ContentPart>;

const Content = z.union([z.string(), z.array(ContentPart)]);

const ToolCall = z.object({
  id: z.string().nullish(),
  type: z.literal("function").nullish(),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const ROLES = ["system", "developer", "user", "assistant", "tool", "ipython"] as const;

export const ChatMessageSchema = z.object({
  role: z.enum(ROLES),
  content: Content.nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(ToolCall).nullish(),
  tool_call_id: z.string().nullish(),
});
export type WireChatMessage = z.output<typeof ChatMessageSchema>;

const Tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
  }),
});

export const ChatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int().nullish(),
  tools: z.array(Tool).nullish(),
  tool_choice: z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: z.object({ type: z.enum(["text", "json_object", "json_schema"]) }).nullish(),
  // vLLM extras
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
});
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;
