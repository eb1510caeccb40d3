/**
 * The engine loop. One step = schedule → run (one llama_decode, two with image embeddings) → sample → update → emit, like
 * vLLM's `EngineCore.step()`. Aborts are applied between steps; a request that is aborted while its
 * step runs is finished right after it.
 * @module
 */
import { CapacityError, ContextLengthExceededError, InvalidRequestError } from "../../common/errors.js";
import { CACHE_FLOOR_CELLS } from "../config.js";
import { toEngineError } from "../errors.js";
import { BlockTracker, DEFAULT_BLOCK_SIZE, type KvEvent } from "../kv/block-tracker.js";
import { KvManager, MAX_SEQ_LABELS } from "../kv/kv-manager.js";
import { Request } from "../request.js";
import type { BatchItem, ModelRunner } from "../runner/model-runner.js";
import { MultiModalPrompt } from "../multimodal.js";
import type { GrammarConstraint } from "../sample/grammar.js";
import { Scheduler, type SchedulerOutput } from "../sched/scheduler.js";
import { Sampler } from "../sample/sampler.js";
import { computeLogprobs } from "../sample/logprobs.js";
import { selectTopK } from "../sample/vocab-math.js";
import { IncrementalDetokenizer } from "../output/detokenizer.js";
import { StopChecker } from "../output/stop-checker.js";
import type {
  CompletionDelta,
  EngineConfig,
  EngineRequest,
  EngineStats,
  FinishReason,
  GeneratedTokenLogprobs,
  RequestOutput,
  TokenId,
} from "../types.js";

/** The completions of one request (n > 1 gives several). */
interface RequestGroup {
  requestId: string;
  completions: Request[];
  numPromptTokens: number;
  /** The queue time was reported (on the first output). */
  reportedQueueTime: boolean;
}

export type OutputSink = (outputs: RequestOutput[]) => void;
/** Receives KV-cache events after each step (kv/kv-event-publisher.ts). */
export type KvEventSink = (events: KvEvent[]) => void;

/** Candidates a grammar checks before it masks the whole vocabulary (see `#sample`). */
const GRAMMAR_CANDIDATES = 256;

export class EngineCore {
  readonly scheduler: Scheduler;
  readonly kv: KvManager;
  readonly #groups = new Map<string, RequestGroup>();
  readonly #abortQueue = new Set<string>();
  readonly #eog: Set<TokenId>;
  #numPromptTokensComputed = 0;
  #numGenerationTokens = 0;
  #numSteps = 0;
  #hasProducedToken = false;

  readonly config: EngineConfig;

  constructor(
    readonly runner: ModelRunner,
    readonly emit: OutputSink,
    /** With `config.kvEvents`: where the KV-cache events go (none = they stay in `kv.blockTracker`, for tests). */
    readonly kvEventSink: KvEventSink | null = null,
  ) {
    const config = runner.config;
    this.config = config;
    const imageTokenId = runner.vision?.placeholderTokenId ?? runner.modelInfo.vision?.placeholderTokenId ?? 0;
    const tracker = config.kvEvents ? new BlockTracker(config.blockSize ?? DEFAULT_BLOCK_SIZE, imageTokenId) : null;
    this.kv = new KvManager(runner.numKvCells, runner.modelInfo.slidingWindow, MAX_SEQ_LABELS, tracker);
    this.scheduler = new Scheduler(
      {
        maxNumSeqs: config.maxNumSeqs,
        maxNumBatchedTokens: Math.min(config.maxNumBatchedTokens, runner.maxBatchTokens),
        enablePrefixCaching: config.enablePrefixCaching,
        maxCachedTokens: config.maxCachedTokens !== undefined && config.maxCachedTokens >= 0 ? config.maxCachedTokens : null,
        cacheFloorCells: Math.min(config.maxModelLen, CACHE_FLOOR_CELLS),
      },
      this.kv,
    );
    this.#eog = new Set(runner.modelInfo.eogTokenIds);
  }

  /** The longest a sequence can be: the configured length, bounded by the whole KV cache. */
  get maxModelLen(): number {
    return Math.min(this.config.maxModelLen, this.kv.totalCells);
  }

  /**
   * Checks the prompt and queues a request. Throws InvalidRequestError or CapacityError; never blocks.
   * Its sampling parameters come validated: the engine client checks them, once, for every caller.
   */
  addRequest(er: EngineRequest): void {
    if (this.#groups.has(er.requestId)) throw new InvalidRequestError(`duplicate request id ${er.requestId}`);
    const vocabSize = this.runner.modelInfo.vocabSize;
    const prompt = er.promptTokenIds;
    if (!Array.isArray(prompt) || prompt.length === 0)
      throw new InvalidRequestError("the prompt is empty: send at least one token", { param: "prompt" });
    for (const t of prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
        throw new InvalidRequestError(`prompt token id ${t} is outside the vocabulary (0..${vocabSize - 1})`, { param: "prompt" });
      }
    }
    const sampling = er.sampling;
    const maxLen = this.maxModelLen;
    if (prompt.length >= maxLen) throw new ContextLengthExceededError(prompt.length, maxLen);
    if (sampling.maxTokens !== undefined && prompt.length + sampling.maxTokens > maxLen) {
      throw new ContextLengthExceededError(prompt.length, maxLen, ` and asks for ${sampling.maxTokens} output tokens (max_tokens)`);
    }
    if (this.scheduler.waiting.length + sampling.n > this.config.maxWaiting) {
      throw new CapacityError(
        `the server is at capacity: ${this.scheduler.waiting.length} requests are already waiting ` +
          `(limit ${this.config.maxWaiting}); retry later`,
      );
    }
    const multiModal = this.#multiModal(er);
    const maxTotal = sampling.maxTokens === undefined ? maxLen : prompt.length + sampling.maxTokens;
    const group: RequestGroup = { requestId: er.requestId, completions: [], numPromptTokens: prompt.length, reportedQueueTime: false };
    const arrival = er.arrivalTimeMs ?? Date.now();
    for (let i = 0; i < sampling.n; i++) {
      const req = new Request(
        er.requestId,
        i,
        prompt,
        sampling,
        maxTotal,
        new Sampler(sampling, { promptTokenIds: prompt, eogTokenIds: [...this.#eog], vocabSize, seedOffset: i }),
        new IncrementalDetokenizer((t) => this.runner.pieceOf(t, sampling.includeSpecialInText ?? false)),
        new StopChecker(sampling.stop),
        group.completions[0] ?? null,
        arrival,
      );
      // Completions share one MultiModalPrompt: its tiles are encoded once.
      req.multiModal = multiModal;
      if (sampling.grammar !== undefined) req.grammar = this.#compileGrammar(sampling.grammar, group);
      group.completions.push(req);
    }
    for (const req of group.completions) this.scheduler.addRequest(req);
    this.#groups.set(er.requestId, group);
  }

  #multiModal(er: EngineRequest): MultiModalPrompt | null {
    const images = er.images ?? [];
    const vision = this.runner.vision;
    if (images.length === 0) {
      if (vision && er.promptTokenIds.includes(vision.placeholderTokenId)) {
        throw new InvalidRequestError("the prompt contains image placeholder tokens but no images", { param: "prompt" });
      }
      return null;
    }
    if (!vision)
      throw new InvalidRequestError("this model has no vision projector (serve it with an mmproj) and cannot take images", {
        param: "images",
      });
    const prompt = new MultiModalPrompt(er.promptTokenIds, images, vision);
    this.kv.blockTracker?.nameImageKeys(prompt.imageHashOfKey);
    return prompt;
  }

  #compileGrammar(gbnf: string, group: RequestGroup): GrammarConstraint {
    if (!this.runner.createGrammar) throw new InvalidRequestError("this engine does not support grammars", { param: "grammar" });
    try {
      return this.runner.createGrammar(gbnf);
    } catch (err) {
      for (const r of group.completions) r.grammar?.dispose();
      throw new InvalidRequestError(`invalid grammar: ${err instanceof Error ? err.message : String(err)}`, {
        param: "grammar",
        cause: err,
      });
    }
  }

  /** Asks to abort a request; applied before the next step. Unknown ids are ignored. */
  abortRequest(requestId: string): void {
    if (this.#groups.has(requestId)) this.#abortQueue.add(requestId);
  }

  hasWork(): boolean {
    return this.scheduler.hasRequests() || this.#abortQueue.size > 0;
  }

  /** Runs one step. Resolves to false when there was nothing to compute. */
  async step(): Promise<boolean> {
    this.#processAborts();
    const plan = this.scheduler.schedule();
    let rows: Float32Array[];
    try {
      const batch = plan.items.map((it): BatchItem => {
        const item: BatchItem = { seqId: it.request.kv!.seqId, tokens: it.tokens, startPos: it.startPos, needsLogits: it.needsLogits };
        if (it.isImage) item.embeddings = it.request.multiModal!.embeddingsFor(it.startPos, it.tokens.length)!;
        return item;
      });
      rows = await this.runner.execute(batch, plan.memoryOps);
    } catch (err) {
      this.#failBatch(plan, err);
      this.publishKvEvents();
      return true;
    }
    if (plan.items.length === 0) {
      this.publishKvEvents();
      return false;
    }
    this.#numSteps++;
    this.#update(plan, rows);
    this.#processAborts();
    this.publishKvEvents();
    return true;
  }

  /** Hands the KV-cache events produced since the last call to the sink (after each step; at start for AllBlocksCleared). */
  publishKvEvents(): void {
    if (!this.kvEventSink) return;
    const events = this.kv.blockTracker?.takeEvents();
    if (events && events.length > 0) this.kvEventSink(events);
  }

  /** 1) commit the step's KV, 2) sample where logits were asked for, 3) check stops, 4) emit. */
  #update(plan: SchedulerOutput, rows: Float32Array[]): void {
    let row = 0;
    const touched = new Set<RequestGroup>();
    for (const item of plan.items) {
      const req = item.request;
      const logits = item.needsLogits ? rows[row++]! : null;
      if (req.status !== "running" || !req.kv) continue;
      const promptPart = Math.max(0, Math.min(req.numPromptTokens, item.startPos + item.tokens.length) - item.startPos);
      this.#numPromptTokensComputed += promptPart;
      this.kv.commitTokens(req.kv, item.keys);
      req.numComputedTokens += item.tokens.length;
      if (!logits) continue;
      const { tokenId, logprobs } = this.#sample(req, logits);
      req.sampler.accept(tokenId);
      req.grammar?.accept(tokenId);
      this.#appendToken(req, tokenId, logprobs);
      touched.add(this.#groups.get(req.requestId)!);
    }
    this.kv.clearReservations();
    this.#emit(touched);
  }

  /**
   * Draws a token; under a grammar, a rejected draw is redone over allowed logits: first among the
   * GRAMMAR_CANDIDATES most likely tokens, over the whole vocabulary only when none of those is allowed.
   */
  #sample(req: Request, logits: Float32Array): ReturnType<Request["sampler"]["sample"]> {
    const first = req.sampler.sample(logits);
    const grammar = req.grammar;
    if (!grammar || grammar.allows(first.tokenId)) return first;
    const masked = new Float32Array(logits.length).fill(Number.NEGATIVE_INFINITY);
    const ids = this.#grammarIds;
    const kept = grammar.filter(ids, selectTopK(logits, ids.length, ids));
    if (kept > 0) for (let i = 0; i < kept; i++) masked[ids[i]!] = logits[ids[i]!]!;
    else {
      masked.set(logits);
      grammar.mask(masked);
    }
    const { tokenId } = req.sampler.sample(masked);
    // Logprobs describe the model's raw distribution, as for unconstrained requests.
    const n = req.sampling.logprobs;
    return n === undefined ? { tokenId } : { tokenId, logprobs: computeLogprobs(logits, tokenId, n) };
  }

  readonly #grammarIds = new Int32Array(GRAMMAR_CANDIDATES);

  #appendToken(req: Request, tokenId: TokenId, logprobs: GeneratedTokenLogprobs | undefined): void {
    this.#numGenerationTokens++;
    this.#hasProducedToken = true;
    req.outputTokenIds.push(tokenId);
    req.pending.tokenIds.push(tokenId);
    if (logprobs) req.pending.logprobs.push(this.#withBytes(logprobs));
    const s = req.sampling;
    const numOut = req.outputTokenIds.length;
    const checkStops = numOut > s.minTokens || s.minTokens === 0;
    const isStopId = s.stopTokenIds.includes(tokenId);
    if (checkStops && (isStopId || (!s.ignoreEos && this.#eog.has(tokenId)))) {
      this.#finish(req, "stop", isStopId ? tokenId : null, true);
      return;
    }
    const text = req.detokenizer.push(tokenId);
    if (checkStops && s.stop.length > 0) {
      const r = req.stopChecker.push(text);
      req.pending.text += r.emit;
      if (r.stopped) {
        this.#finish(req, "stop", r.stopString ?? null, false);
        return;
      }
    } else if (s.stop.length > 0) {
      req.pending.text += req.stopChecker.push(text).emit;
    } else {
      req.pending.text += text;
    }
    if ((s.maxTokens !== undefined && numOut >= s.maxTokens) || req.numTokens >= req.maxTotalTokens) {
      this.#finish(req, "length", null, true);
    }
  }

  #withBytes(lp: GeneratedTokenLogprobs): GeneratedTokenLogprobs {
    const bytesOf = (t: TokenId) => Array.from(this.runner.pieceOf(t, true));
    return { ...lp, bytes: bytesOf(lp.tokenId), top: lp.top.map((a) => ({ ...a, bytes: bytesOf(a.tokenId) })) };
  }

  /** Ends one completion. `flushText`: emit text held back for UTF-8 or stop-string matching. */
  #finish(req: Request, reason: FinishReason, stopReason: string | number | null, flushText: boolean): void {
    if (flushText) {
      const tail = req.detokenizer.flush();
      req.pending.text += req.sampling.stop.length > 0 ? req.stopChecker.push(tail).emit + req.stopChecker.flush() : tail;
    }
    req.finishReason = reason;
    req.stopReason = stopReason;
    req.grammar?.dispose();
    req.grammar = null;
    this.scheduler.finishRequest(req);
  }

  #emit(groups: Iterable<RequestGroup>): void {
    const outputs: RequestOutput[] = [];
    for (const g of groups) outputs.push(this.#outputOf(g));
    if (outputs.length > 0) this.emit(outputs);
  }

  #outputOf(g: RequestGroup, error?: RequestOutput["error"]): RequestOutput {
    const deltas: CompletionDelta[] = [];
    for (const req of g.completions) {
      const p = req.pending;
      const justFinished = req.isFinished() && !req.finishEmitted;
      if (p.tokenIds.length === 0 && p.text === "" && !justFinished) continue;
      const d: CompletionDelta = { index: req.index, tokenIds: p.tokenIds, text: p.text };
      if (p.logprobs.length > 0) d.logprobs = p.logprobs;
      if (justFinished) {
        d.finishReason = req.finishReason!;
        d.stopReason = req.stopReason;
        req.finishEmitted = true;
      }
      deltas.push(d);
      req.pending = { tokenIds: [], text: "", logprobs: [] };
    }
    const finished = g.completions.every((r) => r.isFinished());
    if (finished) this.#groups.delete(g.requestId);
    const out: RequestOutput = {
      requestId: g.requestId,
      deltas,
      finished,
      numPromptTokens: g.numPromptTokens,
      numCachedTokens: g.completions[0]?.numCachedTokens ?? 0,
    };
    const first = g.completions[0];
    if (!g.reportedQueueTime && first?.firstScheduledTimeMs != null) {
      out.queueTimeMs = Math.max(0, first.firstScheduledTimeMs - first.arrivalTimeMs);
      g.reportedQueueTime = true;
    }
    if (error) out.error = error;
    return out;
  }

  #processAborts(): void {
    if (this.#abortQueue.size === 0) return;
    const groups: RequestGroup[] = [];
    for (const id of this.#abortQueue) {
      const g = this.#groups.get(id);
      if (!g) continue;
      for (const req of g.completions) if (!req.isFinished()) this.#finish(req, "abort", null, false);
      groups.push(g);
    }
    this.#abortQueue.clear();
    this.#emit(groups);
  }

  /** A decode that failed (a bug, or llama.cpp refused the batch): fail those requests, keep serving others. */
  #failBatch(plan: SchedulerOutput, err: unknown): void {
    this.kv.clearReservations();
    const groups = new Set<RequestGroup>();
    for (const item of plan.items) {
      const g = this.#groups.get(item.request.requestId);
      if (!g) continue;
      groups.add(g);
      for (const req of g.completions) if (!req.isFinished()) this.#finish(req, "error", null, false);
    }
    // The detail stays the cause (for logs); users see a generic internal error.
    const error = toEngineError(new Error(`the engine could not run this request: ${err instanceof Error ? err.message : String(err)}`));
    const outputs = [...groups].map((g) => this.#outputOf(g, error));
    if (outputs.length > 0) this.emit(outputs);
  }

  stats(): EngineStats {
    return {
      numRunning: this.scheduler.running.length,
      numWaiting: this.scheduler.waiting.length,
      kvCacheUsage: this.kv.usedCells / this.kv.totalCells,
      kvCellsUsed: this.kv.usedCells,
      kvCellsTotal: this.kv.totalCells,
      kvCellsCached: this.kv.cachedOnlyCells,
      numCacheEvictions: this.scheduler.numCacheEvictions,
      prefixCacheQueries: this.scheduler.prefixCache.queries,
      prefixCacheHits: this.scheduler.prefixCache.hits,
      numPromptTokensComputed: this.#numPromptTokensComputed,
      numGenerationTokens: this.#numGenerationTokens,
      numPreemptions: this.scheduler.numPreemptions,
      numSteps: this.#numSteps,
      hasProducedToken: this.#hasProducedToken,
    };
  }
}
