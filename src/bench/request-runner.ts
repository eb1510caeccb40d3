/**
 * Sends one benchmark request over HTTP and times it, like vLLM's
 * `vllm/benchmarks/lib/endpoint_request_func.py`: always streaming, with
 * `stream_options.include_usage` so the token counts are the server's own.
 *
 * Timing model (all `performance.now()`, milliseconds):
 * - the clock starts right before `fetch` (the body is already built);
 * - TTFT is the arrival of the first chunk that carries text. Role-only chunks (an empty first
 *   delta, sent before any token by herd and vLLM) and usage-only chunks do not count;
 * - ITL is the gap between consecutive text chunks, one entry per chunk after the first. A server that
 *   coalesces several tokens into one chunk (`--stream-interval`) shows fewer, longer gaps;
 * - latency is the end of the stream (`[DONE]` or close).
 * Works against herd, vLLM and llama-server (`/v1/completions`, `/v1/chat/completions`).
 * @module
 */
import type { ChatCompletionCreateParams } from "../protocol/chat.js";
import type { CompletionCreateParams } from "../protocol/completions.js";
import type { ChatCompletionChunkDelta, CompletionChoice, CompletionUsage, ErrorObject } from "../protocol/responses.js";
import { readSseData } from "../protocol/sse.js";
import type { EndpointKind, RequestInput, RequestOutput } from "./types.js";

/**
 * A streamed event of either endpoint: herd's chunk shapes (src/protocol/) read defensively, since the
 * server may also be vLLM (`reasoning_content`) or llama-server (`error` as a plain string).
 */
interface StreamChunk {
  choices?: {
    text?: CompletionChoice["text"] | null;
    delta?: { content?: ChatCompletionChunkDelta["content"] | null; reasoning_content?: string | null };
  }[];
  usage?: Partial<CompletionUsage> | null;
  error?: Partial<ErrorObject> | string;
}

/** The request body for the endpoint kind (`extraBody` is the user's: sent as given, unchecked). */
export function buildRequestBody(kind: EndpointKind, input: RequestInput): ChatCompletionCreateParams | CompletionCreateParams {
  const fields = {
    model: input.model,
    max_tokens: input.numOutputTokens,
    stream: true,
    stream_options: { include_usage: true },
    ...input.extraBody,
    ...(input.ignoreEos ? { ignore_eos: true } : {}),
  };
  if (kind === "chat") {
    const messages = typeof input.prompt === "string" ? [{ role: "user" as const, content: input.prompt }] : [...input.prompt];
    return { ...fields, messages };
  }
  if (typeof input.prompt !== "string") throw new Error("/v1/completions takes a plain prompt; use a chat endpoint for messages");
  return { ...fields, prompt: input.prompt };
}

function chunkText(chunk: StreamChunk): string {
  const choice = chunk.choices?.[0];
  if (!choice) return "";
  return choice.text ?? choice.delta?.content ?? choice.delta?.reasoning_content ?? "";
}

function errorMessage(status: number, text: string): string {
  try {
    const e = (JSON.parse(text) as StreamChunk).error;
    const msg = typeof e === "string" ? e : e?.message;
    if (msg) return `HTTP ${status}: ${msg}`;
  } catch {
    /* not JSON */
  }
  return `HTTP ${status}: ${text.slice(0, 300)}`;
}

function emptyOutput(input: RequestInput, startMs: number): RequestOutput {
  return {
    success: false,
    generatedText: "",
    numPromptTokens: input.numPromptTokens,
    numOutputTokens: 0,
    hasUsage: false,
    ttftMs: 0,
    itlMs: [],
    latencyMs: 0,
    startMs,
    status: 0,
    error: "",
  };
}

/**
 * Sends `input` to its endpoint and measures it. Never throws: failures come back as
 * `success: false` with `error` set (HTTP errors, errors inside the stream, timeouts, resets).
 * @param runStartMs the run's time origin, so `startMs` lines requests up on one timeline.
 */
export async function sendRequest(
  kind: EndpointKind,
  input: RequestInput,
  runStartMs: number,
  signal?: AbortSignal,
): Promise<RequestOutput> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": input.requestId };
  if (input.apiKey) headers.authorization = `Bearer ${input.apiKey}`;
  const payload = JSON.stringify(buildRequestBody(kind, input));
  const timeout = AbortSignal.timeout(input.timeoutMs);
  const st = performance.now();
  const out = emptyOutput(input, st - runStartMs);
  let textChunks = 0;
  try {
    const res = await fetch(input.apiUrl, {
      method: "POST",
      headers,
      body: payload,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    out.status = res.status;
    if (!res.ok || !res.body) {
      out.error = errorMessage(res.status, await res.text());
      out.latencyMs = performance.now() - st;
      return out;
    }
    let last = st;
    for await (const data of readSseData(res.body)) {
      if (data.trim() === "[DONE]") break;
      const chunk = JSON.parse(data) as StreamChunk;
      if (chunk.error) {
        out.error = errorMessage(res.status, data);
        break;
      }
      const text = chunkText(chunk);
      if (text !== "") {
        const now = performance.now();
        if (textChunks === 0) out.ttftMs = now - st;
        else out.itlMs.push(now - last);
        last = now;
        textChunks++;
        out.generatedText += text;
      }
      if (chunk.usage && typeof chunk.usage.completion_tokens === "number") {
        out.numOutputTokens = chunk.usage.completion_tokens;
        if (typeof chunk.usage.prompt_tokens === "number") out.numPromptTokens = chunk.usage.prompt_tokens;
        out.hasUsage = true;
      }
    }
    out.latencyMs = performance.now() - st;
    if (!out.hasUsage) out.numOutputTokens = textChunks;
    out.success = out.error === "" && textChunks > 0;
    if (out.error === "" && textChunks === 0) out.error = "the stream ended without any text";
  } catch (err) {
    out.latencyMs = performance.now() - st;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    out.error = timeout.aborted ? `timed out after ${input.timeoutMs} ms` : `${e.name}: ${e.cause?.message ?? e.message}`;
  }
  return out;
}
