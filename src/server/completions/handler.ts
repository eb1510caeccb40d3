/**
 * `POST /v1/completions`: one engine request per prompt (`prompt` may be a batch), `n` choices each;
 * choice index = prompt index × n + completion index, as OpenAI numbers them.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import type { EngineClient } from "../../engine/client/engine-client.js";
import type { TokenId } from "../../engine/types.js";
import { readJsonObject } from "../body.js";
import type { Exchange, ServerContext } from "../context.js";
import { newRequestId, runGeneration, type GenerationJob, type JobOutput } from "../generation.js";
import { CompletionLogprobsBuilder, concatCompletionLogprobs } from "../logprobs.js";
import { checkModelName, type ModelContext } from "../model-context.js";
import { toSamplingParams } from "../sampling.js";
import { sseResponse } from "../sse.js";
import { leasedStreamOptions, primeGenerator, StreamBatcher, UsageCounter } from "../streaming.js";
import { parseRequest } from "../validation.js";
import { CompletionRequestSchema, type CompletionRequest } from "../../protocol/completions.js";
import type { Completion, CompletionChunk, CompletionFinishReason, CompletionLogprobs, StopReason } from "../../protocol/responses.js";

/** OpenAI's default `max_tokens` for completions (vLLM's too). */
const DEFAULT_COMPLETION_MAX_TOKENS = 16;
/** Most prompts one request may batch. */
const MAX_PROMPTS_PER_REQUEST = 64;

interface Prompt {
  text: string | null;
  tokenIds: TokenId[] | null;
}

export function splitPrompts(prompt: CompletionRequest["prompt"]): Prompt[] {
  if (typeof prompt === "string") return [{ text: prompt, tokenIds: null }];
  if (prompt.length === 0) throw new InvalidRequestError("'prompt' must not be empty.", { param: "prompt", code: "invalid_parameter" });
  const first = prompt[0];
  if (typeof first === "string") return (prompt as string[]).map((text) => ({ text, tokenIds: null }));
  if (typeof first === "number") return [{ text: null, tokenIds: prompt as number[] }];
  return (prompt as number[][]).map((tokenIds) => ({ text: null, tokenIds }));
}

function refuseUnsupported(r: CompletionRequest): void {
  if (r.suffix) throw new InvalidRequestError("'suffix' is not supported.", { param: "suffix", code: "unsupported_parameter" });
  const n = r.n ?? 1;
  if (r.best_of !== null && r.best_of !== undefined && r.best_of !== n) {
    throw new InvalidRequestError(`'best_of' is not supported (only best_of = n, here ${n}); use 'n'.`, {
      param: "best_of",
      code: "unsupported_parameter",
    });
  }
  if (r.echo && r.logprobs !== null && r.logprobs !== undefined) {
    throw new InvalidRequestError("'echo' together with 'logprobs' is not supported (prompt logprobs are not computed).", {
      param: "echo",
      code: "unsupported_parameter",
    });
  }
}

export async function tokenizePrompts(
  model: ModelContext,
  client: EngineClient,
  prompts: Prompt[],
  addSpecial: boolean,
): Promise<TokenId[][]> {
  if (prompts.length > MAX_PROMPTS_PER_REQUEST) {
    throw new InvalidRequestError(`'prompt' may hold at most ${MAX_PROMPTS_PER_REQUEST} prompts (got ${prompts.length}).`, {
      param: "prompt",
      code: "invalid_parameter",
    });
  }
  const vocab = model.info.vocabSize;
  return Promise.all(
    prompts.map(async (p, i) => {
      if (p.tokenIds) {
        if (p.tokenIds.length === 0)
          throw new InvalidRequestError(`'prompt[${i}]' must not be empty.`, { param: "prompt", code: "invalid_parameter" });
        const bad = p.tokenIds.find((t) => t < 0 || t >= vocab);
        if (bad !== undefined)
          throw new InvalidRequestError(`'prompt' contains token id ${bad}, outside the vocabulary (0..${vocab - 1}).`, {
            param: "prompt",
            code: "invalid_parameter",
          });
        return p.tokenIds;
      }
      const ids = await client.tokenize(p.text ?? "", { addSpecial, parseSpecial: true, maxTokens: model.limits.maxModelLen });
      if (ids.length === 0)
        throw new InvalidRequestError("'prompt' is empty after tokenization.", { param: "prompt", code: "invalid_parameter" });
      return ids;
    }),
  );
}

export async function handleCompletion(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const { req, log } = ex;
  const body = await readJsonObject(ex, ctx.config.maxRequestBodyBytes);
  const r = parseRequest(CompletionRequestSchema, body);
  const model = ctx.model();
  checkModelName(model, r.model);
  refuseUnsupported(r);
  const prompts = splitPrompts(r.prompt);

  const lease = ctx.host.acquire();
  let handedOff = false;
  try {
    const promptIds = await tokenizePrompts(model, lease.client, prompts, r.add_special_tokens ?? true);
    const logprobs = r.logprobs ?? undefined;
    const input = {
      ...r,
      maxTokens: r.max_tokens,
      logprobs,
      logprobsParamName: "logprobs" as const,
      defaultMaxTokens: DEFAULT_COMPLETION_MAX_TOKENS,
    };
    const jobs: GenerationJob[] = promptIds.map((ids) => ({
      promptTokenIds: ids,
      sampling: toSamplingParams(input, ids.length, model.limits),
    }));
    const n = jobs[0]?.sampling.n ?? 1;
    const echoTexts = r.echo
      ? await Promise.all(prompts.map((p, i) => (p.text !== null ? p.text : lease.client.detokenize(promptIds[i] ?? []))))
      : null;
    const run: CompletionRun = {
      gen: await primeGenerator(runGeneration(lease, ctx.metrics, jobs, req.signal)),
      common: { id: newRequestId("cmpl"), created: Math.floor(Date.now() / 1000), model: model.modelName },
      state: new ChoiceStates(jobs.length * n, n, echoTexts, logprobs !== undefined),
      promptSizes: promptIds.map((ids) => ids.length),
    };
    if (!r.stream) return Response.json(await collectResponse(run));
    handedOff = true;
    const includeUsage = r.stream_options?.include_usage ?? false;
    return sseResponse(
      () => streamChunks(run, includeUsage, ctx.config.streamInterval),
      req.signal,
      leasedStreamOptions(lease, log),
      ex.node,
    );
  } finally {
    if (!handedOff) lease.release();
  }
}

/** One completions request's generation, shared by the streaming and non-streaming responders. */
interface CompletionRun {
  gen: AsyncGenerator<JobOutput>;
  common: { id: string; created: number; model: string };
  state: ChoiceStates;
  promptSizes: number[];
}

async function collectResponse(run: CompletionRun): Promise<Completion> {
  const usage = new UsageCounter();
  const logprobParts: CompletionLogprobs[][] = run.state.choices.map(() => []);
  for await (const jo of run.gen) {
    for (const u of run.state.apply(jo)) if (u.logprobs) logprobParts[u.index]?.push(u.logprobs);
    usage.add(jo.jobIndex, jo.output.numPromptTokens, jo.output.numCachedTokens, countTokens(jo));
  }
  return {
    ...run.common,
    object: "text_completion",
    choices: run.state.choices.map((c, index) => ({
      index,
      text: c.text,
      logprobs: run.state.wantLogprobs ? concatCompletionLogprobs(logprobParts[index] ?? []) : null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
    })),
    usage: usage.usage(run.promptSizes),
    system_fingerprint: null,
  };
}

function countTokens(jo: JobOutput): number {
  let n = 0;
  for (const d of jo.output.deltas) n += d.tokenIds.length;
  return n;
}

interface ChoiceUpdate {
  index: number;
  text: string;
  logprobs: CompletionLogprobs | null;
  finishReason: CompletionFinishReason | null;
  stopReason: StopReason;
}

/** Per-choice text, logprob offsets and finish state; the echo prefix goes first. */
class ChoiceStates {
  readonly choices: Array<{ text: string; finishReason: CompletionFinishReason | null; stopReason: StopReason; echoed: boolean }>;
  readonly #builders: CompletionLogprobsBuilder[];

  constructor(
    numChoices: number,
    readonly n: number,
    readonly echoTexts: string[] | null,
    readonly wantLogprobs: boolean,
  ) {
    this.choices = Array.from({ length: numChoices }, () => ({ text: "", finishReason: null, stopReason: null, echoed: false }));
    this.#builders = Array.from(
      { length: numChoices },
      (_, i) => new CompletionLogprobsBuilder(echoTexts?.[Math.floor(i / n)]?.length ?? 0),
    );
  }

  apply(jo: JobOutput): ChoiceUpdate[] {
    const updates: ChoiceUpdate[] = [];
    for (const d of jo.output.deltas) {
      const index = jo.jobIndex * this.n + d.index;
      const c = this.choices[index];
      if (!c) continue;
      let text = d.text;
      if (!c.echoed && this.echoTexts) {
        text = (this.echoTexts[jo.jobIndex] ?? "") + text;
        c.echoed = true;
      }
      c.text += text;
      if (d.finishReason) {
        c.finishReason = d.finishReason;
        c.stopReason = d.stopReason ?? null;
      }
      const lp = this.wantLogprobs && d.logprobs && d.logprobs.length > 0 ? (this.#builders[index]?.add(d.logprobs) ?? null) : null;
      updates.push({
        index,
        text,
        logprobs: lp,
        finishReason: d.finishReason ?? null,
        stopReason: d.finishReason ? (d.stopReason ?? null) : null,
      });
    }
    return updates;
  }
}

async function* streamChunks(run: CompletionRun, includeUsage: boolean, interval: number): AsyncGenerator<CompletionChunk[]> {
  const usageField = includeUsage ? { usage: null } : {};
  const usage = new UsageCounter();
  const batcher = new StreamBatcher<CompletionChunk>(interval);
  try {
    for await (const jo of run.gen) {
      const batch: CompletionChunk[] = [];
      for (const u of run.state.apply(jo)) {
        if (u.text === "" && !u.logprobs && !u.finishReason) continue;
        batch.push({
          ...run.common,
          object: "text_completion",
          choices: [{ index: u.index, text: u.text, logprobs: u.logprobs, finish_reason: u.finishReason, stop_reason: u.stopReason }],
          ...usageField,
        });
      }
      usage.add(jo.jobIndex, jo.output.numPromptTokens, jo.output.numCachedTokens, countTokens(jo));
      const ready = batcher.push(batch);
      if (ready) yield ready;
    }
  } finally {
    await run.gen.return(undefined);
  }
  yield batcher.take();
  if (includeUsage) yield [{ ...run.common, object: "text_completion", choices: [], usage: usage.usage(run.promptSizes) }];
}
