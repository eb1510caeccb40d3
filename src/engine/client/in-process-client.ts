/**
 * The engine in the caller's process: for tests and tools. A llama.cpp abort kills the caller too —
 * servers use `ProcessClient`.
 * @module
 */
import { getBindings } from "../../native/bindings.js";
import { installLlamaLog, type LogSink } from "../../native/log.js";
import { EngineCore } from "../core/engine-core.js";
import { createKvEventPublisher, type KvEventPublisher } from "../kv/kv-event-publisher.js";
import { LlamaRunner } from "../runner/llama-runner.js";
import type { ModelRunner } from "../runner/model-runner.js";
import type { EngineConfig, EngineRequest, EngineStats, TokenId } from "../types.js";
import { BaseEngineClient } from "./base-client.js";
import type { TokenizeOptions } from "./engine-client.js";
import { EngineLoop } from "./engine-loop.js";

export class InProcessClient extends BaseEngineClient {
  readonly core: EngineCore;
  readonly #loop: EngineLoop;

  private constructor(
    readonly runner: ModelRunner,
    readonly kvEventPublisher: KvEventPublisher | null,
  ) {
    super(runner.modelInfo, runner.config);
    this.core = new EngineCore(runner, (outs) => this.deliver(outs), kvEventPublisher && ((events) => kvEventPublisher.publish(events)));
    this.core.publishKvEvents();
    this.#loop = new EngineLoop(this.core, (err) => this.markDead(err));
  }

  /** `log` receives llama.cpp's warnings and errors (default: errors to stderr). */
  static async create(config: EngineConfig, log?: LogSink): Promise<InProcessClient> {
    const sink: LogSink = log ?? ((level, msg) => level === "error" && console.error(msg));
    installLlamaLog(getBindings(config.device), sink, 3);
    const runner = await LlamaRunner.create(config, (msg) => sink("warn", msg));
    return new InProcessClient(runner, await InProcessClient.#publisher(runner.config, sink));
  }

  /** Wraps any runner (e.g. a fake one in scheduler tests); KV-cache events go to `kvEventPublisher` (closed with the client). */
  static fromRunner(runner: ModelRunner, kvEventPublisher: KvEventPublisher | null = null): InProcessClient {
    return new InProcessClient(runner, kvEventPublisher);
  }

  static #publisher(config: EngineConfig, sink: LogSink): Promise<KvEventPublisher | null> {
    return createKvEventPublisher(config, (err) => sink("error", `KV-cache events: ${err.message}`));
  }

  protected submit(request: EngineRequest): void {
    this.core.addRequest(request);
    this.#loop.notify();
  }

  protected abort(requestId: string): void {
    this.core.abortRequest(requestId);
    this.#loop.notify();
  }

  async tokenize(text: string, opts: TokenizeOptions = {}): Promise<TokenId[]> {
    const o = { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? true, maxTokens: opts.maxTokens };
    return this.runner.tokenizeAsync
      ? this.runner.tokenizeAsync(text, o)
      : this.runner.tokenize(text, o.addSpecial, o.parseSpecial, o.maxTokens);
  }

  async detokenize(tokenIds: TokenId[], opts: { special?: boolean } = {}): Promise<string> {
    return this.runner.detokenize(tokenIds, opts.special ?? false);
  }

  async stats(): Promise<EngineStats> {
    return this.core.stats();
  }

  protected async shutdown(): Promise<void> {
    await this.#loop.stop();
    await this.kvEventPublisher?.close();
    this.runner.close();
  }
}
