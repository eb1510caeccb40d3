/**
 * Generated text → OpenAI's chat shapes when tools are active: the message of a non-streamed
 * response (`content` + `tool_calls`), and the deltas of a streamed one (`{content}` and
 * `{tool_calls: [{index, id, type, function: {name, arguments}}]}` then `{tool_calls: [{index,
 * function: {arguments}}]}` fragments). `finish_reason` becomes `tool_calls` when a choice that
 * stopped on its own produced calls.
 * @module
 */
import type {
  ChatCompletionChunkDelta,
  ChatCompletionFinishReason,
  ChatCompletionMessage,
  CompletionFinishReason,
} from "../../protocol/responses.js";
import type { ToolConfig } from "./config.js";
import { parseToolCalls, ToolCallParser, type ToolCallParserOptions, type ToolParseEvent } from "./pythonic-parser.js";

/** A content delta or a tool-calls delta (never both). */
export type ChatDelta = Required<Pick<ChatCompletionChunkDelta, "content">> | Required<Pick<ChatCompletionChunkDelta, "tool_calls">>;

export function parserOptions(cfg: ToolConfig, jsonResponse = false): ToolCallParserOptions {
  return {
    toolNames: new Set(cfg.tools.map((t) => t.name)),
    maxCalls: cfg.parallel && cfg.choice.kind !== "named" ? Number.POSITIVE_INFINITY : 1,
    // With a JSON response format, a JSON answer is the answer, not a call.
    jsonCalls: !jsonResponse,
  };
}

/** `stop` becomes `tool_calls` when the choice called tools; `length` and the rest stay. */
export function toolFinishReason(reason: CompletionFinishReason | null, calledTools: boolean): ChatCompletionFinishReason | null {
  return calledTools && reason === "stop" ? "tool_calls" : reason;
}

/** The assistant message of a non-streamed choice. */
export function chatMessage(text: string, opts: ToolCallParserOptions | null): ChatCompletionMessage {
  if (opts === null) return { role: "assistant", content: text, tool_calls: [] };
  const parsed = parseToolCalls(text, opts);
  return {
    role: "assistant",
    content: parsed.content,
    tool_calls: parsed.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
  };
}

/** One streamed choice: text in, OpenAI deltas out. */
export class ToolDeltaStream {
  readonly #parser: ToolCallParser;

  constructor(opts: ToolCallParserOptions) {
    this.#parser = new ToolCallParser(opts);
  }

  get calledTools(): boolean {
    return this.#parser.calls.length > 0;
  }

  push(text: string): ChatDelta[] {
    return text === "" ? [] : toDeltas(this.#parser.push(text));
  }

  finish(): ChatDelta[] {
    return toDeltas(this.#parser.finish());
  }
}

/** Consecutive tool-call events share one delta; content gets its own. */
function toDeltas(events: readonly ToolParseEvent[]): ChatDelta[] {
  const out: ChatDelta[] = [];
  for (const e of events) {
    if (e.type === "content") {
      out.push({ content: e.text });
      continue;
    }
    const last = out[out.length - 1];
    const calls = last && "tool_calls" in last ? last.tool_calls : null;
    const target = calls ?? [];
    if (calls === null) out.push({ tool_calls: target });
    if (e.type === "call") target.push({ index: e.index, id: e.id, type: "function", function: { name: e.name, arguments: "" } });
    else {
      const prev = target[target.length - 1];
      if (prev && prev.index === e.index) prev.function.arguments += e.text;
      else target.push({ index: e.index, function: { arguments: e.text } });
    }
  }
  return out;
}
