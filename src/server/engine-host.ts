/**
 * Owns the engine for the server: starts it, warms it up, restarts it when it dies, and drains it on
 * shutdown. Routes never hold an `EngineClient` across requests; they `acquire()` one per request.
 *
 * States:
 *   starting  the engine is loading (requests: 503)
 *   warming   loaded; the 1-token warmup request is running (requests are accepted and queue)
 *   ready     loaded and it produced a token since start (/ready: 200)
 *   dead      the engine died; a new one is being started with backoff (requests: 503)
 *   draining  SIGTERM: in-flight requests finish, new ones get 503
 *   stopped   closed (after drain, or after too many failed restarts)
 *
 * Readiness = state "ready". Liveness = anything but "stopped" after a failure, so an orchestrator
 * restarts the pod only when herd itself gave up.
 * @module
 */
import { EngineDeadError, UnavailableError } from "../common/errors.js";
import type { EngineClient } from "../engine/client/engine-client.js";
import { defaultSamplingParams } from "../engine/sample/sampling-params.js";
import type { EngineRequest, ModelInfo } from "../engine/types.js";
import type { Logger } from "./logger.js";

export type EngineState = "starting" | "warming" | "ready" | "dead" | "draining" | "stopped";

export interface EngineHostOptions {
  /** Starts a new engine (the first one, and each restart). */
  create: () => Promise<EngineClient>;
  log: Logger;
  /** Send a 1-token request after each start (default true). */
  warmup?: boolean;
  /** Delays between restart attempts; the last one repeats. Default 0.5 s, 1 s, 2 s, 5 s. */
  restartDelaysMs?: readonly number[];
  /** Consecutive failed restarts before giving up (liveness goes false). Default 5. */
  maxRestartAttempts?: number;
  /** Hears every state change (metrics). */
  onStateChange?: (state: EngineState) => void;
  /** Hears each successful restart. */
  onRestart?: () => void;
}

export interface Lease {
  readonly client: EngineClient;
  /** Marks that the engine produced a token (readiness when warmup is skipped). */
  tokenProduced(): void;
  release(): void;
}

export class EngineHost {
  #client: EngineClient | null = null;
  #state: EngineState = "starting";
  #failed = false;
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  #restartTimer: NodeJS.Timeout | null = null;
  #warmupSeq = 0;
  readonly #opts: Required<Omit<EngineHostOptions, "onStateChange" | "onRestart">> & Pick<EngineHostOptions, "onStateChange" | "onRestart">;

  constructor(opts: EngineHostOptions) {
    this.#opts = { warmup: true, restartDelaysMs: [500, 1000, 2000, 5000], maxRestartAttempts: 5, ...opts };
  }

  get state(): EngineState {
    return this.#state;
  }

  get numInFlight(): number {
    return this.#inFlight;
  }

  isReady(): boolean {
    return this.#state === "ready";
  }

  /** False only when herd gave up restarting the engine. */
  isLive(): boolean {
    return !this.#failed;
  }

  /** The current client, if one is alive (for /metrics; may be mid-restart). */
  get currentClient(): EngineClient | null {
    return this.#client;
  }

  #setState(s: EngineState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.#opts.log.info({ engineState: s }, `engine ${s}`);
    this.#opts.onStateChange?.(s);
  }

  /** Starts the first engine; rejects if it cannot load (the server should exit). */
  async start(): Promise<ModelInfo> {
    const client = await this.#opts.create();
    this.#adopt(client);
    return client.modelInfo;
  }

  #adopt(client: EngineClient): void {
    this.#client = client;
    client.onDead((err) => this.#onDead(client, err));
    if (this.#state === "draining" || this.#state === "stopped") return;
    this.#setState("warming");
    if (this.#opts.warmup) void this.#warmup(client);
  }

  async #warmup(client: EngineClient): Promise<void> {
    const info = client.modelInfo;
    const request: EngineRequest = {
      requestId: `herd-warmup-${++this.#warmupSeq}`,
      promptTokenIds: [Math.max(info.bosTokenId, 0)],
      sampling: { ...defaultSamplingParams(), temperature: 0, maxTokens: 1, ignoreEos: true },
      arrivalTimeMs: Date.now(),
    };
    const t0 = performance.now();
    try {
      for await (const out of client.generate(request)) {
        if (out.deltas.some((d) => d.tokenIds.length > 0)) this.#markReady(client);
      }
      this.#opts.log.info({ warmupMs: Math.round(performance.now() - t0) }, "warmup request finished");
    } catch (err) {
      this.#opts.log.error({ err }, "warmup request failed");
    }
  }

  #markReady(client: EngineClient): void {
    if (client === this.#client && this.#state === "warming") this.#setState("ready");
  }

  /**
   * A lease on the engine for one request. Throws UnavailableError (503) while loading, restarting
   * or draining.
   */
  acquire(): Lease {
    const client = this.#client;
    switch (this.#state) {
      case "starting":
        throw new UnavailableError("The model is still loading; retry shortly.");
      case "dead":
        throw new UnavailableError("The engine is restarting after a failure; retry shortly.", { code: "engine_restarting" });
      case "draining":
      case "stopped":
        throw new UnavailableError("The server is shutting down; send the request to another replica.", { code: "shutting_down" });
      case "warming":
      case "ready":
        break;
      default:
        this.#state satisfies never;
    }
    if (!client?.isAlive()) throw new EngineDeadError();
    this.#inFlight++;
    let released = false;
    return {
      client,
      tokenProduced: () => this.#markReady(client),
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
        if (this.#inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w();
      },
    };
  }

  #onDead(client: EngineClient, err: Error): void {
    if (client !== this.#client) return;
    this.#opts.log.error({ err: { message: err.message } }, "engine died; in-flight requests failed with engine_dead");
    if (this.#state === "draining" || this.#state === "stopped") return;
    this.#setState("dead");
    this.#scheduleRestart(0);
  }

  #scheduleRestart(attempt: number): void {
    const delays = this.#opts.restartDelaysMs;
    const delay = delays[Math.min(attempt, delays.length - 1)] ?? 1000;
    this.#restartTimer = setTimeout(() => void this.#restart(attempt), delay);
  }

  async #restart(attempt: number): Promise<void> {
    this.#restartTimer = null;
    if (this.#state !== "dead") return;
    const old = this.#client;
    this.#client = null;
    await old?.close().catch(() => undefined);
    try {
      this.#opts.log.info({ attempt: attempt + 1 }, "starting a new engine");
      const client = await this.#opts.create();
      if (this.#state !== "dead") {
        await client.close().catch(() => undefined);
        return;
      }
      this.#opts.onRestart?.();
      this.#adopt(client);
    } catch (err) {
      this.#opts.log.error({ err, attempt: attempt + 1 }, "engine restart failed");
      if (attempt + 1 >= this.#opts.maxRestartAttempts) {
        this.#failed = true;
        this.#setState("stopped");
        return;
      }
      this.#scheduleRestart(attempt + 1);
    }
  }

  /**
   * Stops taking requests, waits up to `timeoutMs` for in-flight ones, then closes the engine.
   * Resolves true when everything finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.#state !== "stopped") this.#setState("draining");
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    let drained = this.#inFlight === 0;
    if (!drained) {
      drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    }
    await this.close();
    return drained;
  }

  async close(): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const client = this.#client;
    this.#client = null;
    this.#setState("stopped");
    await client?.close().catch(() => undefined);
  }
}
