/**
 * `POST /v1/chat/completions` request body (OpenAI's shape plus vLLM's extras). Names follow
 * openai-node: `ChatCompletionCreateParams` is what a client sends, `ChatCompletionRequest` what the
 * server parsed.
 * @module
 */
import { z } from "zod";
import { int, samplingFields } from "./common.js";

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const ImagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: z.string(), detail: z.string().nullish() }),
});
const ContentPart = z.discriminatedUnion("type", [TextPart, ImagePart]);
export type ChatCompletionContentPart = z.input<typeof ContentPart>;

const Content = z.union([z.string(), z.array(ContentPart)]);

const ToolCall = z.object({
  id: z.string().nullish(),
  type: z.literal("function").nullish(),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const ROLES = ["system", "developer", "user", "assistant", "tool", "ipython"] as const;

export const ChatMessageSchema = z.object({
  role: z.enum(ROLES),
  content: Content.nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(ToolCall).nullish(),
  tool_call_id: z.string().nullish(),
});
export type WireChatMessage = z.output<typeof ChatMessageSchema>;
export type ChatCompletionMessageParam = z.input<typeof ChatMessageSchema>;

export const ToolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string(),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});
export type ChatCompletionTool = z.input<typeof ToolSchema>;

export const ToolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);
export type ChatCompletionToolChoiceOption = z.input<typeof ToolChoiceSchema>;

const ResponseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().nullish(),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const ChatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int().nullish(),
  tools: z.array(ToolSchema).nullish(),
  tool_choice: ToolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: ResponseFormat.nullish(),
  // vLLM extras
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
});
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequestSchema>;
export type ChatCompletionCreateParams = z.input<typeof ChatCompletionRequestSchema>;

/**
 * The fields of a chat request that shape its prompt. `/tokenize` takes exactly these (tokenize.ts)
 * and the server renders both requests from this one shape, so `/tokenize`'s count is the
 * `prompt_tokens` chat reports for the same fields.
 */
export const ChatPromptSchema = ChatCompletionRequestSchema.pick({
  messages: true,
  tools: true,
  tool_choice: true,
  parallel_tool_calls: true,
  add_generation_prompt: true,
  continue_final_message: true,
  chat_template_kwargs: true,
});
export type ChatPromptFields = z.output<typeof ChatPromptSchema>;
