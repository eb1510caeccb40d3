/**
 * `POST /v1/chat/completions`: validate → render the chat template → tokenize → sample → respond,
 * either as one `chat.completion` object or as `chat.completion.chunk` SSE events. With tools, the
 * output is parsed for Llama 4 pythonic calls (server/tools/); `tool_choice` required/named and
 * `response_format` json_object/json_schema generate under a grammar.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import type { CompletionDelta, SamplingParams } from "../../engine/types.js";
import { readJsonObject } from "../body.js";
import type { Exchange, ServerContext } from "../context.js";
import { newRequestId, runGeneration, type GenerationJob, type JobOutput } from "../generation.js";
import { toChatLogprobs } from "../logprobs.js";
import { checkModelName } from "../model-context.js";
import { type ServingLimits, toSamplingParams } from "../sampling.js";
import { toolsActive } from "../tools/config.js";
import { chatGrammar } from "../tools/grammar.js";
import { chatMessage, parserOptions, ToolDeltaStream, toolFinishReason } from "../tools/output.js";
import type { ToolCallParserOptions } from "../tools/pythonic-parser.js";
import { sseResponse } from "../sse.js";
import { leasedStreamOptions, primeGenerator, StreamBatcher, UsageCounter } from "../streaming.js";
import { parseRequest } from "../validation.js";
import { checkMessageCount, renderChatRequest, tokenizeRenderedPrompt } from "./prompt.js";
import { ChatCompletionRequestSchema, type ChatCompletionRequest } from "../../protocol/chat.js";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionChunkChoice,
  ChatCompletionLogprobs,
  CompletionFinishReason,
  StopReason,
} from "../../protocol/responses.js";

interface ChoiceAcc {
  text: string;
  logprobs: ChatCompletionLogprobs["content"];
  finishReason: CompletionFinishReason | null;
  stopReason: StopReason;
}

/** Features whose absence must be an error rather than a silently different answer. */
function refuseUnsupported(r: ChatCompletionRequest): void {
  if (!r.logprobs && r.top_logprobs !== null && r.top_logprobs !== undefined && r.top_logprobs > 0) {
    throw new InvalidRequestError("'top_logprobs' requires 'logprobs' to be true.", { param: "top_logprobs", code: "invalid_parameter" });
  }
}

/** `max_completion_tokens` (OpenAI's current name) wins over `max_tokens`; errors name the one given. */
function chatSamplingParams(
  r: ChatCompletionRequest,
  topLogprobs: number | undefined,
  numPromptTokens: number,
  limits: ServingLimits,
  grammar: string | undefined,
): SamplingParams {
  const useNew = r.max_completion_tokens !== null && r.max_completion_tokens !== undefined;
  try {
    return toSamplingParams(
      {
        ...r,
        maxTokens: useNew ? r.max_completion_tokens : r.max_tokens,
        logprobs: topLogprobs,
        logprobsParamName: "top_logprobs",
        defaultMaxTokens: undefined,
        grammar,
      },
      numPromptTokens,
      limits,
    );
  } catch (err) {
    if (useNew && err instanceof InvalidRequestError && err.param === "max_tokens") {
      throw new InvalidRequestError(err.message.replace(/\bmax_tokens\b/g, "max_completion_tokens"), {
        param: "max_completion_tokens",
        code: err.code,
        cause: err,
      });
    }
    throw err;
  }
}

/** One chat request's generation, shared by the streaming and non-streaming responders. */
interface ChatRun {
  gen: AsyncGenerator<JobOutput>;
  common: { id: string; created: number; model: string };
  n: number;
  topLogprobs: number | undefined;
  numPromptTokens: number;
  /** How to parse tool calls out of each choice; null when tools are not active. */
  tools: ToolCallParserOptions | null;
}

export async function handleChatCompletion(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const { req, log } = ex;
  const body = await readJsonObject(ex, ctx.config.maxRequestBodyBytes);
  if (ctx.hasModel) checkMessageCount(body, ctx.model().limits.maxModelLen);
  const r = parseRequest(ChatCompletionRequestSchema, body);
  const model = ctx.model();
  checkModelName(model, r.model);
  refuseUnsupported(r);
  const prompt = await renderChatRequest(model, r, ctx.config.limitMmPerPrompt);
  const toolConfig = prompt.toolConfig;
  const grammar = chatGrammar(toolConfig, r.response_format);

  const lease = ctx.host.acquire();
  let handedOff = false;
  try {
    const { promptTokenIds, images } = await tokenizeRenderedPrompt(model, lease.client, ctx.config, prompt, req.signal);
    const topLogprobs = r.logprobs ? (r.top_logprobs ?? 0) : undefined;
    const sampling = chatSamplingParams(r, topLogprobs, promptTokenIds.length, model.limits, grammar);
    const job: GenerationJob = { promptTokenIds, sampling, ...(images ? { images } : {}) };
    const run: ChatRun = {
      gen: await primeGenerator(runGeneration(lease, ctx.metrics, [job], req.signal)),
      common: { id: newRequestId("chatcmpl"), created: Math.floor(Date.now() / 1000), model: model.modelName },
      n: sampling.n,
      topLogprobs,
      numPromptTokens: promptTokenIds.length,
      tools: toolsActive(toolConfig) ? parserOptions(toolConfig, (r.response_format?.type ?? "text") !== "text") : null,
    };
    if (!r.stream) return Response.json(await collectResponse(run));
    handedOff = true;
    const includeUsage = r.stream_options?.include_usage ?? false;
    return sseResponse(
      (signal) => streamChunks(run, includeUsage, ctx.config.streamInterval, signal),
      req.signal,
      leasedStreamOptions(lease, log),
      ex.node,
    );
  } finally {
    if (!handedOff) lease.release();
  }
}

async function collectResponse(run: ChatRun): Promise<ChatCompletion> {
  const choices: ChoiceAcc[] = Array.from({ length: run.n }, () => ({ text: "", logprobs: [], finishReason: null, stopReason: null }));
  const usage = new UsageCounter();
  for await (const { output } of run.gen) {
    let newTokens = 0;
    for (const d of output.deltas) {
      newTokens += d.tokenIds.length;
      const c = choices[d.index];
      if (!c) continue;
      c.text += d.text;
      if (d.logprobs && run.topLogprobs !== undefined) c.logprobs.push(...toChatLogprobs(d.logprobs, run.topLogprobs).content);
      if (d.finishReason) {
        c.finishReason = d.finishReason;
        c.stopReason = d.stopReason ?? null;
      }
    }
    usage.add(0, output.numPromptTokens, output.numCachedTokens, newTokens);
  }
  return {
    ...run.common,
    object: "chat.completion",
    choices: choices.map((c, index) => {
      const message = chatMessage(c.text, run.tools);
      return {
        index,
        message,
        logprobs: run.topLogprobs === undefined ? null : { content: c.logprobs },
        finish_reason: toolFinishReason(c.finishReason, message.tool_calls.length > 0),
        stop_reason: c.stopReason,
      };
    }),
    usage: usage.usage([run.numPromptTokens]),
    system_fingerprint: null,
  };
}

async function* streamChunks(
  run: ChatRun,
  includeUsage: boolean,
  interval: number,
  signal: AbortSignal,
): AsyncGenerator<ChatCompletionChunk[]> {
  const usageField = includeUsage ? { usage: null } : {};
  const chunk = (choice: ChatCompletionChunkChoice): ChatCompletionChunk => ({
    ...run.common,
    object: "chat.completion.chunk",
    choices: [choice],
    ...usageField,
  });
  yield Array.from({ length: run.n }, (_, index) =>
    chunk({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }),
  );
  const usage = new UsageCounter();
  const batcher = new StreamBatcher<ChatCompletionChunk>(interval);
  const tools = run.tools;
  const parsers = tools === null ? null : Array.from({ length: run.n }, () => new ToolDeltaStream(tools));
  try {
    for await (const { output } of run.gen) {
      let newTokens = 0;
      const batch: ChatCompletionChunk[] = [];
      for (const d of output.deltas) {
        newTokens += d.tokenIds.length;
        pushDeltaChunks(batch, d, chunk, run.topLogprobs, parsers?.[d.index]);
      }
      usage.add(0, output.numPromptTokens, output.numCachedTokens, newTokens);
      const ready = batcher.push(batch);
      if (ready) yield ready;
      if (signal.aborted) return;
    }
  } finally {
    await run.gen.return(undefined);
  }
  yield batcher.take();
  if (includeUsage) yield [{ ...run.common, object: "chat.completion.chunk", choices: [], usage: usage.usage([run.numPromptTokens]) }];
}

function pushDeltaChunks(
  batch: ChatCompletionChunk[],
  d: CompletionDelta,
  chunk: (choice: ChatCompletionChunkChoice) => ChatCompletionChunk,
  topLogprobs: number | undefined,
  parser?: ToolDeltaStream,
): void {
  const lp = d.logprobs && d.logprobs.length > 0 && topLogprobs !== undefined ? toChatLogprobs(d.logprobs, topLogprobs) : null;
  if (parser) {
    // Tool calls: the parser decides what is content and what is a call; logprobs ride on the first delta.
    const deltas = parser.push(d.text);
    if (d.finishReason) deltas.push(...parser.finish());
    deltas.forEach((delta, k) => batch.push(chunk({ index: d.index, delta, logprobs: k === 0 ? lp : null, finish_reason: null })));
    if (deltas.length === 0 && lp) batch.push(chunk({ index: d.index, delta: {}, logprobs: lp, finish_reason: null }));
  } else if (d.text !== "" || lp) {
    batch.push(chunk({ index: d.index, delta: { content: d.text }, logprobs: lp, finish_reason: null }));
  }
  if (d.finishReason) {
    const reason = toolFinishReason(d.finishReason, parser?.calledTools ?? false);
    batch.push(chunk({ index: d.index, delta: {}, logprobs: null, finish_reason: reason, stop_reason: d.stopReason ?? null }));
  }
}
