/**
 * OpenAI messages → prompt token ids, shared by /v1/chat/completions and /tokenize (so usage counts
 * and /tokenize counts agree by construction).
 *
 * 1. Normalize messages: `developer` → `system`; tool calls and results in Llama 4's tool format
 *    (assistant `tool_calls` → `[f(a=1)]`, `tool` → `ipython`) and, when tools are active, herd's
 *    tool prompt in the system turn (server/tools/messages.ts); the template never sees `tools`;
 *    text parts joined with "\n"; image parts become a placeholder the caller splices images into
 *    (server/images.ts), or are refused when the caller gives none.
 * 2. Render with the model's chat template (`add_generation_prompt`, `continue_final_message`).
 * 3. Tokenize with special tokens parsed and none added; prepend BOS when the model adds one and the
 *    template did not render it.
 * @module
 */
import { ContextLengthExceededError, InvalidRequestError } from "../../common/errors.js";
import type { EngineClient } from "../../engine/client/engine-client.js";
import type { TokenId } from "../../engine/types.js";
import type { TemplateMessage } from "../chat-template.js";
import type { ModelContext } from "../model-context.js";
import { resolveTools, type ToolConfig } from "../tools/config.js";
import { applyToolFormat } from "../tools/messages.js";
import type { WireChatMessage } from "../../protocol/chat.js";

export interface ChatPromptOptions {
  messages: readonly WireChatMessage[];
  addGenerationPrompt?: boolean | null | undefined;
  continueFinalMessage?: boolean | null | undefined;
  tools?: unknown[] | null | undefined;
  /** `tool_choice` and `parallel_tool_calls` (they shape the tool prompt). */
  toolChoice?: unknown;
  parallelToolCalls?: boolean | null | undefined;
  /** The three fields above already resolved (the chat handler resolves them once for everything). */
  toolConfig?: ToolConfig | null;
  chatTemplateKwargs?: Record<string, unknown> | null | undefined;
  /** Rendered in place of each image part (see server/images.ts); without it image parts are refused. */
  imagePlaceholder?: string | undefined;
}

/** Text parts joined with "\n"; an image part becomes `imagePlaceholder` (no separator around it). */
function contentText(m: WireChatMessage, i: number, imagePlaceholder: string | undefined): string {
  const c = m.content;
  if (c === null || c === undefined) {
    if (m.role === "assistant" && m.tool_calls && m.tool_calls.length > 0) return "";
    throw new InvalidRequestError(`'messages[${i}].content' is required for role '${m.role}'.`, {
      param: `messages[${i}].content`,
      code: "missing_required_parameter",
    });
  }
  if (typeof c === "string") return c;
  let text = "";
  let prevText = false;
  c.forEach((part, j) => {
    if (part.type === "text") {
      text += (prevText ? "\n" : "") + part.text;
      prevText = true;
    } else if (imagePlaceholder !== undefined) {
      text += imagePlaceholder;
      prevText = false;
    } else {
      throw new InvalidRequestError(`'messages[${i}].content[${j}]' is an image; this endpoint does not accept image input.`, {
        param: `messages[${i}].content[${j}]`,
        code: "unsupported_content",
      });
    }
  });
  return text;
}

export function toTemplateMessages(messages: readonly WireChatMessage[], imagePlaceholder?: string): TemplateMessage[] {
  return messages.map((m, i) => {
    const out: TemplateMessage = { role: m.role === "developer" ? "system" : m.role, content: contentText(m, i, imagePlaceholder) };
    if (m.name) out.name = m.name;
    if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
    if (m.tool_calls && m.tool_calls.length > 0) {
      out.tool_calls = m.tool_calls.map((t) => ({ ...(t.id ? { id: t.id } : {}), type: "function" as const, function: t.function }));
    }
    return out;
  });
}

/** The rendered prompt text. */
export async function renderChatPrompt(model: ModelContext, opts: ChatPromptOptions): Promise<string> {
  const messages = toTemplateMessages(opts.messages, opts.imagePlaceholder);
  const toolConfig =
    opts.toolConfig !== undefined
      ? opts.toolConfig
      : resolveTools({ tools: opts.tools, tool_choice: opts.toolChoice, parallel_tool_calls: opts.parallelToolCalls });
  const formatted = applyToolFormat(messages, toolConfig);
  const cont = opts.continueFinalMessage ?? false;
  const addGen = opts.addGenerationPrompt ?? !cont;
  if (cont && addGen) {
    throw new InvalidRequestError("'continue_final_message' and 'add_generation_prompt' cannot both be true.", {
      param: "continue_final_message",
    });
  }
  const last = formatted[formatted.length - 1];
  if (cont && last?.role !== "assistant") {
    throw new InvalidRequestError("'continue_final_message' needs the last message to be from the assistant.", {
      param: "continue_final_message",
    });
  }
  let text = await model.chatTemplate.renderAsync(formatted, {
    addGenerationPrompt: addGen,
    kwargs: opts.chatTemplateKwargs ?? undefined,
  });
  if (cont && last) {
    // Cut what the template appended after the final message (its end-of-turn token).
    const content = last.content.trim();
    const at = content === "" ? -1 : text.lastIndexOf(content);
    if (at >= 0) text = text.slice(0, at + content.length);
  }
  return text;
}

/**
 * Refuses, before validating or rendering it, a conversation with more messages than the context has
 * tokens (every message takes at least one: its role header). Keeps a body of 200,000 tiny messages
 * (under the body limit) from costing schema validation and a template render first.
 */
export function checkMessageCount(body: Record<string, unknown>, maxModelLen: number): void {
  const messages = body.messages;
  if (Array.isArray(messages) && messages.length > maxModelLen) {
    throw new ContextLengthExceededError(messages.length, maxModelLen, "", {
      atLeast: `${messages.length} messages of at least one token each`,
    });
  }
}

export async function tokenizeChatPrompt(model: ModelContext, client: EngineClient, text: string): Promise<TokenId[]> {
  const ids = await client.tokenize(text, { addSpecial: false, parseSpecial: true, maxTokens: model.limits.maxModelLen });
  const bos = model.info.bosTokenId;
  if (model.info.addBos && bos >= 0 && ids[0] !== bos) ids.unshift(bos);
  return ids;
}
