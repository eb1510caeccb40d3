/**
 * Starts the whole server: resolve the model, listen, start the engine (in a child process unless
 * `inProcessEngine`), warm it up, and drain on shutdown.
 *
 * Startup order: the HTTP listener comes up first so `/health` answers during a long model load;
 * `/ready` turns 200 only after the warmup request produced a token.
 *
 * Shutdown (`shutdown()`, wired to SIGTERM/SIGINT by `herd serve`):
 *   1. readiness false and new requests get 503 (state "draining"); the listener stops accepting
 *      connections and idle keep-alive connections are closed;
 *   2. in-flight requests finish, for at most `shutdownTimeoutMs`;
 *   3. the engine is closed, remaining connections are cut, and `shutdown()` resolves.
 * @module
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { describeServeConfig, type ServeConfig } from "../config/serve-config.js";
import { defaultEngineConfig } from "../engine/config.js";
import { createEngineClient } from "../engine/client/index.js";
import type { EngineClient } from "../engine/client/engine-client.js";
import type { EngineConfig } from "../engine/types.js";
import { ensureEmbeddedMmproj, ensureEmbeddedModel } from "../model/embedded.js";
import { createApp, type App } from "./app.js";
import { ServerContext } from "./context.js";
import { EngineHost } from "./engine-host.js";
import { createLogger, type Logger } from "./logger.js";
import { ServerMetrics } from "./metrics.js";
import { createModelContext, servedModelNames } from "./model-context.js";
import { nodeFetch } from "./node-http.js";

export interface StartServerOptions {
  log?: Logger;
  /** Replaces `createEngineClient` (e.g. to share one engine between a benchmark and the server). */
  createEngine?: (config: EngineConfig) => Promise<EngineClient>;
  /**
   * Turns `--model ARG` into the GGUF path to load (e.g. an artifact folder or s3:// location,
   * verified against its manifest). Default: ARG is the GGUF path.
   */
  resolveModel?: (arg: string, log: Logger) => Promise<string>;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  readonly ctx: ServerContext;
  /** Drains and stops; resolves true when every in-flight request finished in time. Idempotent. */
  shutdown(reason?: string): Promise<boolean>;
}

/** Engine settings: the engine's defaults, overridden by whatever the flags set. */
export function toEngineConfig(config: ServeConfig, modelOrPath: ResolvedModel | string): EngineConfig {
  const model = typeof modelOrPath === "string" ? { path: modelOrPath, mmproj: config.mmproj, mmprojOptional: false } : modelOrPath;
  const c = defaultEngineConfig(model.path);
  return {
    ...c,
    mmproj: model.mmproj ?? undefined,
    mmprojOptional: model.mmprojOptional,
    maxModelLen: config.maxModelLen ?? c.maxModelLen,
    maxNumSeqs: config.maxNumSeqs,
    maxNumBatchedTokens: config.maxNumBatchedTokens,
    kvCacheTokens: config.kvCacheTokens ?? c.kvCacheTokens,
    maxWaiting: config.maxWaiting,
    threads: config.threads ?? c.threads,
    device: config.device,
    nGpuLayers: config.nGpuLayers,
    loadMode: config.loadMode,
    enablePrefixCaching: config.enablePrefixCaching,
    maxCachedTokens: config.maxCachedTokens ?? undefined,
    blockSize: config.blockSize,
    kvEvents: config.kvEventsConfig ?? undefined,
  };
}

export interface ResolvedModel {
  path: string;
  mmproj: string | null;
  /** Start text-only (with a warning) when the vision tower cannot be loaded: only for the embedded default. */
  mmprojOptional: boolean;
}

async function resolveModelPath(
  config: ServeConfig,
  log: Logger,
  resolveModel?: StartServerOptions["resolveModel"],
): Promise<ResolvedModel> {
  if (config.model !== null) {
    const path = resolveModel ? await resolveModel(config.model, log) : config.model;
    return { path, mmproj: config.mmproj, mmprojOptional: false };
  }
  log.info("no --model given: using the embedded random-weight Llama 4 model with its vision tower (generated on first use)");
  const [path, mmproj] = await Promise.all([ensureEmbeddedModel(), config.mmproj ?? ensureEmbeddedMmproj()]);
  return { path, mmproj, mmprojOptional: config.mmproj === null };
}

function listen(app: App, config: ServeConfig): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: nodeFetch(app.fetch), port: config.port, hostname: config.host }) as Server;
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}

export async function startServer(config: ServeConfig, opts: StartServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logLevel);
  log.info({ config: describeServeConfig(config) }, "resolved configuration");
  const names = servedModelNames(config);
  const metrics = new ServerMetrics(names[0] as string, { blockSize: config.blockSize, enablePrefixCaching: config.enablePrefixCaching });

  const engineLog = log.child({ component: "engine" });
  const model = await resolveModelPath(config, log, opts.resolveModel);
  const modelPath = model.path;
  const engineConfig = toEngineConfig(config, model);
  const create = opts.createEngine
    ? () => (opts.createEngine as (c: EngineConfig) => Promise<EngineClient>)(engineConfig)
    : () => createEngineClient(engineConfig, { inProcess: config.inProcessEngine, log: (level, msg) => engineLog[level](msg) });
  const host = new EngineHost({
    create,
    log,
    warmup: !config.skipWarmup,
    onStateChange: (s) => metrics.setEngineState(null, s === "ready"),
    onRestart: () => metrics.recordEngineRestart(),
  });
  const ctx = new ServerContext(config, host, metrics, log);
  const app = createApp(ctx);
  const { server, port } = await listen(app, config);
  const url = `http://${config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host}:${port}`;
  log.info({ host: config.host, port }, `listening on ${config.host}:${port}; loading ${modelPath}`);

  let shuttingDown: Promise<boolean> | null = null;
  const shutdown = (reason = "shutdown"): Promise<boolean> => {
    shuttingDown ??= (async () => {
      log.info(
        { reason, inFlight: host.numInFlight, timeoutMs: config.shutdownTimeoutMs },
        "draining: new requests get 503, in-flight requests may finish",
      );
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drained = await host.drain(config.shutdownTimeoutMs);
      log.info({ drained }, drained ? "drained; stopping" : "shutdown timeout reached; cutting remaining requests");
      server.closeAllConnections();
      await closed;
      return drained;
    })();
    return shuttingDown;
  };

  try {
    const info = await host.start();
    const client = host.currentClient;
    if (!client) throw new Error("the engine stopped right after it started");
    const model = await createModelContext(client, config, (reason) => log.warn(`${reason}; using the built-in Llama 4 chat template`));
    ctx.setModel(model);
    const finalized = (client as Partial<{ config: EngineConfig }>).config ?? engineConfig;
    log.info(
      {
        model: {
          path: info.path,
          names: model.servedModelNames,
          architecture: info.architecture,
          params: info.numParams,
          vocab: info.vocabSize,
        },
        engine: finalized,
        chatTemplate: model.chatTemplate.source,
      },
      `model loaded: ${info.description || info.architecture}`,
    );
    if (model.randomWeights) {
      log.warn(
        { randomWeights: true },
        "THIS MODEL HAS RANDOM WEIGHTS: it is herd's generated Llama 4 test model, so its output is meaningless text. " +
          "Serve a real model with --model PATH.gguf.",
      );
    }
  } catch (err) {
    log.fatal({ err }, "the model could not be loaded");
    await shutdown("startup failed");
    throw err;
  }
  return { url, port, app, ctx, shutdown };
}
