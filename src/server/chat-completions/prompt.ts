/**
 * OpenAI messages → prompt token ids, shared by /v1/chat/completions and /tokenize (so usage counts
 * and /tokenize counts agree by construction): both hand `renderChatRequest` the request's
 * `ChatPromptFields` (src/protocol/chat.ts, the one list of fields that shape a prompt) and tokenize
 * with `tokenizeRenderedPrompt`.
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
import type { ServeConfig } from "../../config/serve-config.js";
import type { EngineClient } from "../../engine/client/engine-client.js";
import type { ImageInput, TokenId } from "../../engine/types.js";
import type { ChatPromptFields, WireChatMessage } from "../../protocol/chat.js";
import type { TemplateMessage } from "../chat-template.js";
import { checkImageParts, collectImageParts, type ImagePartRef, newImageSentinel, tokenizeWithImages } from "../images.js";
import type { ModelContext } from "../model-context.js";
import { resolveTools, type ToolConfig } from "../tools/config.js";
import { applyToolFormat } from "../tools/messages.js";

/** A chat request's prompt, rendered; its images are fetched when it is tokenized. */
export interface RenderedChatPrompt {
  text: string;
  /** `tools`, `tool_choice` and `parallel_tool_calls`, checked and resolved (chat's grammar and parser use them too). */
  toolConfig: ToolConfig | null;
  /** The image parts, rendered as `sentinel` in `text`; null without images. */
  images: { parts: ImagePartRef[]; sentinel: string } | null;
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

function toTemplateMessages(messages: readonly WireChatMessage[], imagePlaceholder?: string): TemplateMessage[] {
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

/**
 * Checks a request's tool fields and image parts and renders its prompt: the one way
 * /v1/chat/completions and /tokenize turn a request into prompt text.
 * @param limitMmPerPrompt `--limit-mm-per-prompt`'s image count.
 */
export async function renderChatRequest(model: ModelContext, r: ChatPromptFields, limitMmPerPrompt: number): Promise<RenderedChatPrompt> {
  const toolConfig = resolveTools(r);
  const parts = collectImageParts(r.messages);
  checkImageParts(parts, model, limitMmPerPrompt);
  const images = parts.length > 0 ? { parts, sentinel: newImageSentinel() } : null;
  const text = await renderChatPrompt(model, r, toolConfig, images?.sentinel);
  return { text, toolConfig, images };
}

/** The rendered prompt text; `imagePlaceholder` is rendered in place of each image part (without it they are refused). */
async function renderChatPrompt(
  model: ModelContext,
  r: ChatPromptFields,
  toolConfig: ToolConfig | null,
  imagePlaceholder: string | undefined,
): Promise<string> {
  const messages = toTemplateMessages(r.messages, imagePlaceholder);
  const formatted = applyToolFormat(messages, toolConfig);
  const cont = r.continue_final_message ?? false;
  const addGen = r.add_generation_prompt ?? !cont;
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
    kwargs: r.chat_template_kwargs ?? undefined,
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

/** The prompt's token ids, and its images (fetched, decoded and tiled) when it has any. */
export async function tokenizeRenderedPrompt(
  model: ModelContext,
  client: EngineClient,
  config: ServeConfig,
  prompt: RenderedChatPrompt,
  signal?: AbortSignal,
): Promise<{ promptTokenIds: TokenId[]; images?: ImageInput[] }> {
  const img = prompt.images;
  if (img) return tokenizeWithImages(model, client, config, prompt.text, img.sentinel, img.parts, signal);
  return { promptTokenIds: await tokenizeChatPrompt(model, client, prompt.text) };
}

async function tokenizeChatPrompt(model: ModelContext, client: EngineClient, text: string): Promise<TokenId[]> {
  const ids = await client.tokenize(text, { addSpecial: false, parseSpecial: true, maxTokens: model.limits.maxModelLen });
  const bos = model.info.bosTokenId;
  if (model.info.addBos && bos >= 0 && ids[0] !== bos) ids.unshift(bos);
  return ids;
}
