/**
 * What every route receives: the frozen config, the engine host, metrics, the logger, and the model
 * context once the model has loaded.
 * @module
 */
import { UnavailableError } from "../common/errors.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { EngineHost } from "./engine-host.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import type { ModelContext } from "./model-context.js";
import type { NodeBindings } from "./node-http.js";

export class ServerContext {
  #model: ModelContext | null = null;

  constructor(
    readonly config: ServeConfig,
    readonly host: EngineHost,
    readonly metrics: ServerMetrics,
    readonly log: Logger,
  ) {}

  /** The model context; 503 while the model is still loading. */
  model(): ModelContext {
    if (!this.#model) throw new UnavailableError("The model is still loading; retry shortly.");
    return this.#model;
  }

  get hasModel(): boolean {
    return this.#model !== null;
  }

  setModel(model: ModelContext): void {
    this.#model = model;
  }
}

/** Per-HTTP-request values set by the middleware. */
export interface RequestVars {
  requestId: string;
  log: Logger;
  /** Node's request and response under `herd serve`; null under `app.request()`. */
  node: NodeBindings | null;
}

/** One HTTP exchange as the request handlers see it. */
export interface Exchange {
  readonly req: Request;
  readonly log: Logger;
  /** Node's own request and response under `herd serve` (the fast path); null under `app.request()`. */
  readonly node: NodeBindings | null;
}
