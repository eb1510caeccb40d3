/**
 * Chat history in Llama 4's tool format, before the chat template renders it: the template only
 * ever sees plain role/content messages, so every Llama 4 template (the GGUF's, the built-in one)
 * renders tool conversations the same way.
 *
 * - assistant `tool_calls` → the content `[f(a=1), g(b="x")]` (after the message's own text, if any);
 * - `tool` → role `ipython` (Meta's name for tool results), content as given;
 * - tools active → the tool prompt (`toolSystemPrompt`) is appended to the system message, or is the
 *   system message when the caller sent none.
 * @module
 */
import type { TemplateMessage } from "../chat-template.js";
import { type ToolConfig, toolsActive } from "./config.js";
import { renderToolCalls, toolSystemPrompt } from "./prompt.js";

export function applyToolFormat(messages: readonly TemplateMessage[], cfg: ToolConfig | null): TemplateMessage[] {
  const out = messages.map((m, i): TemplateMessage => {
    if (m.role === "tool") {
      const { tool_call_id: _id, ...rest } = m;
      return { ...rest, role: "ipython" };
    }
    if (m.role === "assistant" && m.tool_calls && m.tool_calls.length > 0) {
      const { tool_calls, ...rest } = m;
      const calls = renderToolCalls(tool_calls, `messages[${i}]`);
      const text = m.content.trim();
      return { ...rest, content: text === "" ? calls : `${text}\n${calls}` };
    }
    return m;
  });
  if (!toolsActive(cfg)) return out;
  const block = toolSystemPrompt(cfg);
  const first = out[0];
  if (first?.role === "system") {
    const own = first.content.trim();
    out[0] = { ...first, content: own === "" ? block : `${own}\n\n${block}` };
  } else out.unshift({ role: "system", content: block });
  return out;
}
