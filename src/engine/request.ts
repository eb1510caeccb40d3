/**
 * One sequence being generated: a request with n > 1 becomes n `Request`s (one per completion index)
 * that share the prompt's KV.
 *
 * Status (a request moves left to right, and back to WAITING only when preempted):
 *
 *   WAITING ──admit──▶ RUNNING ──finish──▶ FINISHED
 *      ▲                  │
 *      └────preempt───────┘   (its KV is dropped; it recomputes prompt + output so far on re-admission)
 * @module
 */
import type { SeqKv } from "./kv/kv-manager.js";
import type { FinishReason, GeneratedTokenLogprobs, SamplingParams, TokenId } from "./types.js";
import type { Sampler } from "./sample/sampler.js";
import type { IncrementalDetokenizer } from "./output/detokenizer.js";
import type { StopChecker } from "./output/stop-checker.js";
import type { GrammarConstraint } from "./sample/grammar.js";
import type { MultiModalPrompt } from "./multimodal.js";

export type RequestStatus = "waiting" | "running" | "finished";

export interface PendingDelta {
  tokenIds: TokenId[];
  text: string;
  logprobs: GeneratedTokenLogprobs[];
}

export class Request {
  status: RequestStatus = "waiting";
  readonly outputTokenIds: TokenId[] = [];
  /** Tokens (prompt, then output) whose KV is computed for this sequence. */
  numComputedTokens = 0;
  /** Prompt tokens served from the prefix cache on first admission. */
  numCachedTokens = 0;
  kv: SeqKv | null = null;
  finishReason: FinishReason | null = null;
  stopReason: string | number | null = null;
  /** The output carrying finishReason has been emitted. */
  finishEmitted = false;
  /** Output produced since the last emitted `RequestOutput`. */
  pending: PendingDelta = { tokenIds: [], text: "", logprobs: [] };
  /** Image embeddings of the prompt, if it has images. */
  multiModal: MultiModalPrompt | null = null;
  /** Grammar constraining the output, if the request has one. */
  grammar: GrammarConstraint | null = null;
  /** When the scheduler first admitted it (ms since epoch). */
  firstScheduledTimeMs: number | null = null;
  /** Admitted once before (then preempted): its outputs so far are kept. */
  wasPreempted = false;

  constructor(
    readonly requestId: string,
    /** Completion index within the request (0..n-1). */
    readonly index: number,
    readonly promptTokenIds: readonly TokenId[],
    readonly sampling: SamplingParams,
    /** Last token position allowed: min(prompt + max_tokens, max_model_len). */
    readonly maxTotalTokens: number,
    readonly sampler: Sampler,
    readonly detokenizer: IncrementalDetokenizer,
    readonly stopChecker: StopChecker,
    /** For n > 1: siblings wait until completion 0 has computed the prompt, then share its KV. */
    readonly firstSibling: Request | null,
    readonly arrivalTimeMs: number,
  ) {}

  get numPromptTokens(): number {
    return this.promptTokenIds.length;
  }

  /** Prompt plus output so far: what must be in the KV before the next token can be sampled. */
  get numTokens(): number {
    return this.promptTokenIds.length + this.outputTokenIds.length;
  }

  /** Token at absolute position `pos` (prompt first, then output). */
  tokenAt(pos: number): TokenId {
    const p = this.promptTokenIds.length;
    return pos < p ? this.promptTokenIds[pos]! : this.outputTokenIds[pos - p]!;
  }

  /** KV key at `pos`: the token id, or for an image embedding a negative key of the image's content. */
  keyAt(pos: number): number {
    const mm = this.multiModal;
    return mm && pos < mm.keys.length ? mm.keys[pos]! : this.tokenAt(pos);
  }

  /** KV keys of everything known so far (prompt + output) — matched against the prefix cache. */
  allKeys(): number[] {
    const keys = this.multiModal ? Array.from(this.multiModal.keys) : [...this.promptTokenIds];
    for (const t of this.outputTokenIds) keys.push(t);
    return keys;
  }

  isFinished(): boolean {
    return this.status === "finished";
  }

  /** Siblings of an n > 1 request wait for completion 0 to finish its prompt, so they can share it. */
  canBeAdmitted(): boolean {
    const first = this.firstSibling;
    return first === null || first.isFinished() || first.numComputedTokens >= first.numPromptTokens - 1;
  }
}
