/**
 * Runs the engine requests behind one HTTP request (one per prompt; completions may send several)
 * and yields their outputs, merged, while feeding the metrics. Protocol-agnostic: the endpoints turn
 * outputs into OpenAI chunks or responses.
 *
 * Cancellation: `signal` (the client connection) aborts every engine request of the HTTP request;
 * a failure of one prompt aborts the others.
 * @module
 */
import { randomUUID } from "node:crypto";
import type { EngineRequest, FinishReason, ImageInput, RequestOutput, SamplingParams, TokenId } from "../engine/types.js";
import type { Lease } from "./engine-host.js";
import type { RequestTracker, ServerMetrics } from "./metrics.js";

export interface GenerationJob {
  promptTokenIds: TokenId[];
  sampling: SamplingParams;
  /** Images whose embeddings fill the prompt's `<|patch|>` placeholders, in prompt order. */
  images?: ImageInput[];
}

export interface JobOutput {
  /** Which job (prompt) the output belongs to. */
  jobIndex: number;
  output: RequestOutput;
}

/** A short random id (`chatcmpl-…`, `cmpl-…`). */
export function newRequestId(prefix: string): string {
  return `${prefix}-${randomUUID().replace(/-/g, "")}`;
}

async function* runOne(
  lease: Lease,
  metrics: ServerMetrics,
  job: GenerationJob,
  requestId: string,
  signal: AbortSignal,
): AsyncGenerator<RequestOutput> {
  const tracker = metrics.trackRequest(performance.now());
  const reasons: FinishReason[] = [];
  let sawOutput = false;
  const request: EngineRequest = { requestId, promptTokenIds: job.promptTokenIds, sampling: job.sampling, arrivalTimeMs: Date.now() };
  if (job.images && job.images.length > 0) request.images = job.images;
  let failed = false;
  try {
    for await (const out of lease.client.generate(request, signal)) {
      if (!sawOutput) recordQueueTime(tracker, out);
      sawOutput = true;
      tracker.onOutput(out, performance.now());
      for (const d of out.deltas) {
        if (d.tokenIds.length > 0) lease.tokenProduced();
        if (d.finishReason) reasons.push(d.finishReason);
      }
      yield out;
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (sawOutput || signal.aborted) {
      const missing = job.sampling.n - reasons.length;
      for (let i = 0; i < missing; i++) reasons.push(signal.aborted ? "abort" : failed ? "error" : "abort");
      tracker.finish(reasons, performance.now());
    }
  }
}

/** `vllm:request_queue_time_seconds`: the engine reports the wait (arrival → first scheduled) on the first output. */
function recordQueueTime(tracker: RequestTracker, out: RequestOutput): void {
  if (out.queueTimeMs !== undefined && Number.isFinite(out.queueTimeMs)) tracker.recordQueueTime(out.queueTimeMs);
}

/** Merges several async iterators, yielding whichever output is ready first. */
async function* merge(sources: AsyncGenerator<RequestOutput>[]): AsyncGenerator<JobOutput> {
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<RequestOutput> }>>();
  const pull = (i: number) => {
    const src = sources[i] as AsyncGenerator<RequestOutput>;
    const p = src.next().then((r) => ({ i, r }));
    p.catch(() => undefined); // a sibling's failure after we stopped listening is not unhandled
    pending.set(i, p);
  };
  sources.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      yield { jobIndex: i, output: r.value };
      pull(i);
    }
  } finally {
    pending.clear();
    // Not awaited: a source with a pending next() returns once the caller's abort settles it.
    for (const s of sources) s.return(undefined).catch(() => undefined);
  }
}

/**
 * Submits `jobs` to the leased engine and yields their outputs until all finish. Closing the
 * generator early (or `signal` aborting) aborts whatever is still running.
 */
export async function* runGeneration(
  lease: Lease,
  metrics: ServerMetrics,
  jobs: readonly GenerationJob[],
  signal: AbortSignal,
): AsyncGenerator<JobOutput> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) ac.abort(signal.reason);
  else signal.addEventListener("abort", onAbort, { once: true });
  const baseId = randomUUID();
  try {
    if (jobs.length === 1) {
      for await (const output of runOne(lease, metrics, jobs[0] as GenerationJob, baseId, ac.signal)) yield { jobIndex: 0, output };
      return;
    }
    yield* merge(jobs.map((job, i) => runOne(lease, metrics, job, `${baseId}-${i}`, ac.signal)));
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Anything still running (early close, a sibling failed) is aborted in the engine.
    ac.abort(new Error("generation closed"));
  }
}
