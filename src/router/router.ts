/**
 * `herd router`: an HTTP reverse proxy in front of N OpenAI-compatible workers (herd serve
 * replicas, or any other server) that picks a worker per request with a policy (./policy.ts).
 *
 * A request's path:
 *   1. the body is read whole (requests are small) and its routing text extracted (./request-text.ts);
 *   2. the policy picks one of the healthy workers;
 *   3. method, path, query, headers (Authorization included) and body go to that worker;
 *   4. the answer's status and headers are relayed, then its body is piped through chunk by chunk as
 *      it arrives (SSE streams pass byte for byte, unbuffered);
 *   5. when the worker fails before its first response byte (connection refused or reset, or a 503:
 *      loading or draining), the request is sent once more to another healthy worker (reason
 *      `retry`); after the first byte there is no retry, and a cut upstream cuts the client.
 * A client that goes away aborts the upstream request.
 *
 * The router's own routes: `GET /health` and `/ready` (200 while any worker is healthy, else 503),
 * `GET /metrics` (./metrics.ts), `GET /v1/models` (the models of all healthy workers, merged by id).
 * @module
 */
import { createServer, Agent, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createJsonLogger } from "../common/json-logger.js";
import { RouterMetrics } from "./metrics.js";
import { createPolicy, type CacheAwareOptions, type Policy, type PolicyName } from "./policy.js";
import { routingText } from "./request-text.js";
import { WorkerPool, type Worker, type WorkerSource } from "./worker-pool.js";

export interface RouterConfig {
  host: string;
  /** 0: any free port (the "listening on" log line says which). */
  port: number;
  policy: PolicyName;
  cacheAware: CacheAwareOptions;
  source: WorkerSource;
  healthIntervalMs: number;
  healthTimeoutMs: number;
}

export interface RunningRouter {
  readonly url: string;
  readonly port: number;
  readonly pool: WorkerPool;
  readonly policy: Policy;
  readonly metrics: RouterMetrics;
  close(): Promise<void>;
}

/** Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), plus Host. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"]);

function copyHeaders(headers: IncomingMessage["headers"]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, code: string): void {
  const type = status === 503 ? "unavailable" : "internal";
  sendJson(
    res,
    status,
    { error: { message, type, param: null, code } },
    status === 503 ? { "retry-after": "1", "x-should-retry": "true" } : {},
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0 || !(contentType ?? "application/json").includes("json")) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined; // the worker answers the 400
  }
}

export class Router {
  readonly metrics = new RouterMetrics();
  readonly policy: Policy;
  readonly pool: WorkerPool;
  readonly #agent = new Agent({ keepAlive: true });

  constructor(
    readonly config: RouterConfig,
    readonly log: Logger,
  ) {
    this.policy = createPolicy(config.policy, config.cacheAware);
    this.pool = new WorkerPool({
      source: config.source,
      healthIntervalMs: config.healthIntervalMs,
      healthTimeoutMs: config.healthTimeoutMs,
      metrics: this.metrics,
      onRemove: (url) => this.policy.removeWorker(url),
      onHealthChange: (w) => {
        log.info({ worker: w.url, healthy: w.healthy }, `worker ${w.url} ${w.healthy ? "healthy" : "out of routing"}`);
        // A worker that comes back has most likely restarted with an empty cache: forget its tree.
        if (!w.healthy) this.policy.removeWorker(w.url);
      },
    });
  }

  close(): void {
    this.pool.close();
    this.#agent.destroy();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://router").pathname;
    if (req.method === "GET" && (path === "/health" || path === "/ready")) {
      const numHealthy = this.pool.healthyWorkers.length;
      sendJson(res, numHealthy > 0 ? 200 : 503, { status: numHealthy > 0 ? "ok" : "no healthy worker", healthy_workers: numHealthy });
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (req.method === "GET" && path === "/v1/models") return this.#models(req, res);
    const body = await readBody(req);
    const text = routingText(path, parseJson(body, req.headers["content-type"]));
    const workers = this.pool.healthyWorkers;
    if (workers.length === 0) return sendError(res, 503, "no healthy worker to route to; retry later", "no_healthy_worker");
    const decision = this.policy.select(workers, text);
    this.metrics.decision(this.policy.name, decision.reason, decision.matchedChars, text.length);
    this.log.debug({ worker: decision.worker.url, reason: decision.reason, path }, "routed");
    this.#forward(decision.worker, req, body, res, text, true);
  }

  /** Sends the request to `worker` and pipes the answer back; `canRetry`: once, before the first byte. */
  #forward(worker: Worker, req: IncomingMessage, body: Buffer, res: ServerResponse, text: string, canRetry: boolean): void {
    this.pool.addInflight(worker, 1);
    let counted = true;
    const done = () => {
      if (counted) this.pool.addInflight(worker, -1);
      counted = false;
    };
    const retry = (): boolean => {
      const others = this.pool.healthyWorkers.filter((w) => w !== worker);
      if (!canRetry || others.length === 0) return false;
      const decision = this.policy.select(others, text);
      this.metrics.decision(this.policy.name, "retry", decision.matchedChars, 0);
      this.log.info({ from: worker.url, to: decision.worker.url }, "retrying on another worker");
      this.#forward(decision.worker, req, body, res, text, false);
      return true;
    };
    const headers = { ...copyHeaders(req.headers), "content-length": String(body.length) };
    const upstream = httpRequest(`${worker.url}${req.url ?? "/"}`, { method: req.method, headers, agent: this.#agent });
    const onClientClose = () => {
      if (!res.writableFinished) upstream.destroy();
    };
    let handedOff = false; // the request went on to another worker: this attempt no longer owns `res`
    upstream.on("response", (up) => {
      if (up.statusCode === 503 && retry()) {
        handedOff = true;
        this.metrics.request(worker.url, "unavailable");
        up.resume();
        done();
        return;
      }
      this.metrics.request(worker.url, (up.statusCode ?? 500) >= 500 ? "error" : "ok");
      res.writeHead(up.statusCode ?? 502, copyHeaders(up.headers));
      res.flushHeaders();
      up.pipe(res);
      up.on("end", done);
      up.on("error", () => {
        done();
        res.destroy();
      });
      up.on("close", () => {
        done();
        if (!up.complete) res.destroy();
      });
    });
    upstream.on("error", (err) => {
      done();
      res.off("close", onClientClose);
      if (handedOff) return;
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      this.metrics.request(worker.url, "error");
      this.log.warn({ worker: worker.url, err: err.message }, "worker unreachable");
      this.pool.markDown(worker);
      if (!retry()) sendError(res, 502, `worker ${worker.url} failed before answering: ${err.message}`, "bad_gateway");
    });
    res.on("close", onClientClose);
    upstream.end(body);
  }

  async #models(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers: Record<string, string> = {};
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    const answers = await Promise.all(
      this.pool.healthyWorkers.map(async (w) => {
        try {
          const r = await fetch(`${w.url}/v1/models`, { headers, signal: AbortSignal.timeout(this.config.healthTimeoutMs) });
          return { status: r.status, body: await r.text() };
        } catch {
          return null;
        }
      }),
    );
    const data = new Map<string, unknown>();
    for (const a of answers) {
      if (a?.status !== 200) continue;
      try {
        for (const m of (JSON.parse(a.body) as { data?: Array<{ id: string }> }).data ?? []) if (!data.has(m.id)) data.set(m.id, m);
      } catch {
        /* not an OpenAI model list */
      }
    }
    const failed = answers.find((a) => a !== null && a.status !== 200);
    if (data.size === 0 && failed) {
      res.writeHead(failed.status, { "content-type": "application/json" });
      res.end(failed.body);
      return;
    }
    if (data.size === 0 && answers.length === 0) return sendError(res, 503, "no healthy worker to ask for models", "no_healthy_worker");
    sendJson(res, 200, { object: "list", data: [...data.values()] });
  }
}

export function createRouterLogger(level = "info"): Logger {
  return createJsonLogger(level, "herd-router");
}

/** Checks the workers once, then listens; logs `listening on HOST:PORT` with the port. */
export async function startRouter(config: RouterConfig, log: Logger = createRouterLogger()): Promise<RunningRouter> {
  const router = new Router(config, log);
  await router.pool.start();
  const server: Server = createServer((req, res) => {
    router.handle(req, res).catch((err: unknown) => {
      log.error({ err }, "router request failed");
      if (!res.headersSent) sendError(res, 500, "router error", "internal_error");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const workers = router.pool.workers.map((w) => ({ url: w.url, healthy: w.healthy }));
  log.info({ host: config.host, port, policy: config.policy, workers }, `listening on ${config.host}:${port}`);
  return {
    url: `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`,
    port,
    pool: router.pool,
    policy: router.policy,
    metrics: router.metrics,
    async close() {
      router.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
