/**
 * The page's client for herd's OpenAI-compatible API (same origin): list models, stream a chat
 * completion and time it (TTFT = send → first text; tok/s = output tokens after the first / the time
 * they took, from `usage` when the server reports it).
 */
import type { ChatCompletionCreateParams } from "../../src/protocol/chat.js";
import type { ChatCompletionChunk, ErrorBody, ModelList } from "../../src/protocol/responses.js";
import { readSseData } from "../../src/protocol/sse.js";

/** An HTTP error with the server's OpenAI-shaped message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ReplyStats {
  ttftMs: number | null;
  numOutputTokens: number;
  tokensPerS: number | null;
  finishReason: string | null;
  stopped: boolean;
}

function headers(apiKey: string): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (body.error?.message) return new ApiError(res.status, body.error.message);
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`);
}

export async function listModels(apiKey: string): Promise<string[]> {
  const res = await fetch("/v1/models", { headers: headers(apiKey) });
  if (!res.ok) throw await toApiError(res);
  const body = (await res.json()) as Partial<ModelList>;
  return (body.data ?? []).map((m) => m.id);
}

/**
 * Streams one reply, calling `onText` with each piece of text. Resolves with the reply's timing when
 * the stream ends or `signal` stops it (`stopped: true`); rejects with `ApiError` on HTTP or stream errors.
 */
export async function streamChat(
  body: ChatCompletionCreateParams,
  apiKey: string,
  signal: AbortSignal,
  onText: (text: string) => void,
): Promise<ReplyStats> {
  const stats: ReplyStats = { ttftMs: null, numOutputTokens: 0, tokensPerS: null, finishReason: null, stopped: false };
  const t0 = performance.now();
  let tFirst = 0;
  let tLast = 0;
  let chunks = 0;
  let usageTokens: number | null = null;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(apiKey),
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
    if (!res.ok || !res.body) throw await toApiError(res);
    for await (const data of readSseData(res.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data) as ChatCompletionChunk | ErrorBody;
      if ("error" in chunk) throw new ApiError(res.status, chunk.error.message ?? "error in stream");
      const choice = chunk.choices?.[0];
      const text = choice?.delta?.content ?? "";
      if (text) {
        tLast = performance.now();
        if (chunks++ === 0) {
          tFirst = tLast;
          stats.ttftMs = tFirst - t0;
        }
        onText(text);
      }
      if (choice?.finish_reason) stats.finishReason = choice.finish_reason;
      if (typeof chunk.usage?.completion_tokens === "number") usageTokens = chunk.usage.completion_tokens;
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    stats.stopped = true;
  }
  stats.numOutputTokens = usageTokens ?? chunks;
  if (stats.numOutputTokens > 1 && tLast > tFirst) stats.tokensPerS = (stats.numOutputTokens - 1) / ((tLast - tFirst) / 1000);
  return stats;
}
