/**
 * The engine in a child process (the default for serving). llama.cpp asserts abort the process that
 * runs them; here that is the child, so the API server survives, fails the in-flight requests with
 * `EngineDeadError`, and can start a new engine.
 * @module
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { EngineDeadError, InvalidRequestError, ServeError } from "../../common/errors.js";
import { type EnvSource, processEnv, readEnv } from "../../config/env.js";
import { fromEngineError } from "../errors.js";
import type { EngineConfig, EngineRequest, EngineStats, ModelInfo, TokenId } from "../types.js";
import { LlamaVocab } from "../runner/llama-vocab.js";
import { BaseEngineClient } from "./base-client.js";
import type { TokenizeOptions } from "./engine-client.js";
import type { EngineInit, FromEngine, ToEngine } from "./protocol.js";

export type EngineLog = (level: "debug" | "info" | "warn" | "error", message: string) => void;

/**
 * The engine process's environment: glibc's `glibc.malloc.hugetlb=1` tunable, so that malloc advises
 * transparent huge pages (MADV_HUGEPAGE) for its large blocks — the weights under load mode "none", the
 * KV cache, the compute buffers. Each decode step streams all the weights; on 4 KiB pages that costs
 * TLB misses (docs/performance.md). Read by glibc at process start only, hence here and not in the
 * engine; ignored by other C libraries and where THP is "never". A hugetlb value already given wins.
 */
export function engineEnv(env: EnvSource): EnvSource {
  const tunables = readEnv("GLIBC_TUNABLES", env) ?? "";
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(tunables)) return env;
  return { ...env, GLIBC_TUNABLES: tunables === "" ? "glibc.malloc.hugetlb=1" : `${tunables}:glibc.malloc.hugetlb=1` };
}

/**
 * The API process's vocabulary of each model file, loaded once and kept for the process's life: a
 * restarted engine reuses it instead of loading it again on the event loop (0.2–0.7 s for Llama 4,
 * a /health stall at every restart), along with its prepared long-text tables and piece table.
 */
const vocabs = new Map<string, LlamaVocab>();
function sharedVocab(path: string, log: EngineLog): LlamaVocab {
  let v = vocabs.get(path);
  if (!v) {
    v = LlamaVocab.loadVocabOnly(path, (level, message) => log(level, message));
    vocabs.set(path, v);
    void v.prepareLongTexts().catch(() => {}); // in the background; a failure shows on first use
  }
  return v;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface PendingCall {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class ProcessClient extends BaseEngineClient {
  readonly #child: ChildProcess;
  readonly #calls = new Map<number, PendingCall>();
  #nextCallId = 1;
  #exited: Promise<void>;

  private constructor(child: ChildProcess, modelInfo: ModelInfo, config: EngineConfig, exited: Promise<void>) {
    super(modelInfo, config);
    this.#child = child;
    this.#exited = exited;
    child.on("message", (m: FromEngine) => this.#onMessage(m));
  }

  /** Forks the engine process and resolves once the model is loaded. */
  static async create(config: EngineConfig, log: EngineLog = () => {}): Promise<ProcessClient> {
    const entry = new URL("./engine-process.js", import.meta.url);
    let entryPath = fileURLToPath(entry);
    const execArgv: string[] = [];
    if (import.meta.url.endsWith(".ts")) {
      // Running from source (tests, tsx): the child needs the TypeScript loader too.
      entryPath = entryPath.replace(/\.js$/, ".ts");
      execArgv.push("--import", "tsx");
    }
    const child = fork(entryPath, [], {
      execArgv,
      env: engineEnv(processEnv()),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "advanced",
    });
    // Errors of the child object itself (a failed spawn, kill or IPC write) are logged; its exit is what
    // fails the requests and starts a new engine.
    child.on("error", (err) => log("warn", `engine process: ${err.message}`));
    let onExit: (code: number | null, signal: NodeJS.Signals | null) => void = () => {};
    const exited = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        onExit(code, signal);
        resolve();
      }),
    );
    const ready = await new Promise<Extract<FromEngine, { type: "ready" }>>((resolve, reject) => {
      onExit = (code, signal) => reject(new Error(`the engine process exited during startup (${signal ?? `code ${code}`})`));
      child.on("message", function first(m: FromEngine) {
        if (m.type === "log") log(m.level, m.message);
        else if (m.type === "startup-error") reject(new Error(m.message));
        else if (m.type === "ready") {
          child.off("message", first);
          resolve(m);
        }
      });
      const init: EngineInit = { type: "init", config, llamaLogLevel: 3 };
      child.send(init, (err) => err && reject(new Error(`could not send the engine its configuration: ${err.message}`)));
    }).catch((err: unknown) => {
      child.kill("SIGKILL");
      throw err;
    });
    const client = new ProcessClient(child, ready.modelInfo, ready.config, exited);
    client.#log = log;
    // Tokenize here, not in the child: a tokenize call would otherwise wait for the current decode
    // step (tens of ms under load) and cost two IPC hops.
    try {
      const vocab = sharedVocab(ready.config.model, log);
      if (vocab.vocabSize !== ready.modelInfo.vocabSize) throw new Error("vocabulary size differs from the engine's");
      client.#vocab = vocab;
    } catch (err) {
      log("warn", `tokenizing in the engine process: ${err instanceof Error ? err.message : String(err)}`);
    }
    onExit = (code, signal) => client.#onExit(code, signal);
    return client;
  }

  #log: EngineLog = () => {};
  /** The model's vocabulary loaded in this process (null: ask the engine process). */
  #vocab: LlamaVocab | null = null;

  #onMessage(m: FromEngine): void {
    switch (m.type) {
      case "outputs":
        this.deliver(m.outputs);
        return;
      case "rejected":
        this.failRequest(m.requestId, fromEngineError(m.error));
        return;
      case "reply": {
        const call = this.#calls.get(m.callId);
        this.#calls.delete(m.callId);
        if (!call) return;
        if (m.error !== undefined) call.reject(fromEngineError(m.error));
        else call.resolve(m.result);
        return;
      }
      case "log":
        this.#log(m.level, m.message);
        return;
      case "ready":
      case "startup-error":
        return;
      default:
        m satisfies never;
    }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    const cause = new Error(`the engine process exited (${signal ?? `code ${code}`})`);
    for (const call of this.#calls.values()) call.reject(new EngineDeadError(undefined, cause));
    this.#calls.clear();
    this.markDead(cause);
  }

  #send(msg: ToEngine): void {
    // With a callback, a failed write (EPIPE: the engine died an instant ago) is reported here instead
    // of as an 'error' event on the child, which nothing may leave unhandled: a soak with engine kills
    // every minute took the whole server down that way. The exit handler fails the requests.
    if (this.#child.connected)
      this.#child.send(msg, (err) => err && this.#log("debug", `message to the engine not delivered: ${err.message}`));
  }

  #call<T>(msg: DistributiveOmit<Extract<ToEngine, { callId: number }>, "callId">): Promise<T> {
    if (!this.isAlive()) return Promise.reject(new EngineDeadError("the engine is not running"));
    const callId = this.#nextCallId++;
    return new Promise<T>((resolve, reject) => {
      this.#calls.set(callId, { resolve: resolve as (v: unknown) => void, reject });
      this.#send({ ...msg, callId } as ToEngine);
    });
  }

  protected submit(request: EngineRequest): void {
    this.#send({ type: "add", request });
  }

  protected abort(requestId: string): void {
    this.#send({ type: "abort", requestId });
  }

  tokenize(text: string, opts: TokenizeOptions = {}): Promise<TokenId[]> {
    const o = { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? true, maxTokens: opts.maxTokens };
    if (this.#vocab) return this.#local(() => this.#vocab!.tokenizeAsync(text, o));
    return this.#call({ type: "tokenize", text, ...o });
  }

  detokenize(tokenIds: TokenId[], opts: { special?: boolean } = {}): Promise<string> {
    if (this.#vocab) return this.#local(() => this.#vocab!.detokenize(tokenIds, opts.special ?? false));
    return this.#call({ type: "detokenize", tokenIds, special: opts.special ?? false });
  }

  /** Runs a vocabulary call here; failures are the caller's invalid input, as from the engine. */
  async #local<T>(fn: () => T | Promise<T>): Promise<T> {
    if (!this.isAlive()) throw new EngineDeadError("the engine is not running");
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ServeError) throw err;
      throw new InvalidRequestError(err instanceof Error ? err.message : String(err));
    }
  }

  stats(): Promise<EngineStats> {
    return this.#call({ type: "stats" });
  }

  /** Test hook: makes llama.cpp abort in the child (needs HERD_ENABLE_TEST_HOOKS=1 in its env). */
  crashForTest(): void {
    this.#send({ type: "crash-for-test" });
  }

  /** The child's process id (for tests and logs). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  protected async shutdown(): Promise<void> {
    this.#vocab = null; // shared with the next engine on this model (see sharedVocab)
    this.#send({ type: "shutdown" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#exited;
    clearTimeout(timer);
  }
}
