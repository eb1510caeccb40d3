/**
 * The router against fake workers (plain node:http servers): streaming passthrough, retry before the
 * first byte, health checks, merged /v1/models, metrics. The e2e suite (test/e2e/router.e2e.test.ts)
 * runs it in front of real `herd serve` replicas.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_CACHE_AWARE, type PolicyName } from "./policy.js";
import { startRouter, type RunningRouter } from "./router.js";
import { WorkerPool } from "./worker-pool.js";
import { RouterMetrics } from "./metrics.js";

interface FakeWorker {
  url: string;
  server: Server;
  hits: string[];
  healthStatus: number;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, w: FakeWorker) => void;

async function fakeWorker(name: string, handler?: Handler): Promise<FakeWorker> {
  const w: FakeWorker = { url: "", server: createServer(), hits: [], healthStatus: 200, close: async () => {} };
  w.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/health") return void res.writeHead(w.healthStatus).end();
    if (req.url === "/ready") return void res.writeHead(404).end();
    if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ object: "list", data: [{ id: "shared" }, { id: name }] }));
    }
    w.hits.push(`${req.method} ${req.url}`);
    if (handler) return handler(req, res, w);
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "x-worker": name });
      res.end(JSON.stringify({ worker: name, auth: req.headers.authorization ?? null, body }));
    });
  });
  await new Promise<void>((r) => w.server.listen(0, "127.0.0.1", r));
  w.url = `http://127.0.0.1:${(w.server.address() as AddressInfo).port}`;
  w.close = () => {
    w.server.closeAllConnections();
    return new Promise((r) => w.server.close(() => r()));
  };
  return w;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function router(urls: string[], policy: PolicyName = "cache_aware"): Promise<RunningRouter> {
  const r = await startRouter(
    {
      host: "127.0.0.1",
      port: 0,
      policy,
      cacheAware: DEFAULT_CACHE_AWARE,
      source: { kind: "urls", urls },
      healthIntervalMs: 60_000, // tests call pool.refresh() themselves
      healthTimeoutMs: 1000,
    },
    pino({ level: "silent" }),
  );
  cleanup.push(() => r.close());
  return r;
}

async function workers(n: number, handler?: Handler): Promise<FakeWorker[]> {
  const ws = await Promise.all(Array.from({ length: n }, (_, i) => fakeWorker(`w${i}`, handler)));
  for (const w of ws) cleanup.push(() => w.close());
  return ws;
}

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

const chat = (system: string, user: string) =>
  JSON.stringify({
    messages: [
      { role: "system", content: system },
      { role: "user", content: user },
    ],
  });

describe("herd router", () => {
  it("forwards method, path, query, Authorization and body; routes a shared prefix to one worker", async () => {
    const ws = await workers(2);
    const r = await router(ws.map((w) => w.url));
    const post = async (system: string, user: string) => {
      const res = await fetch(`${r.url}/v1/chat/completions?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k" },
        body: chat(system, user),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { worker: string; auth: string; body: string };
    };
    const first = await post("You are a pirate, always answer like one.", "hi");
    expect(first.auth).toBe("Bearer k");
    expect(JSON.parse(first.body)).toEqual(JSON.parse(chat("You are a pirate, always answer like one.", "hi")));
    const other = await post("You are a poet who answers only in verse.", "hi");
    expect(other.worker).not.toBe(first.worker);
    for (const q of ["what?", "tell me more", "bye"]) {
      expect((await post("You are a pirate, always answer like one.", q)).worker).toBe(first.worker);
      expect((await post("You are a poet who answers only in verse.", q)).worker).toBe(other.worker);
    }
    expect(ws[0]!.hits[0]).toBe("POST /v1/chat/completions?x=1");
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(/herd_router_decisions_total\{policy="cache_aware",reason="cache_hit"\} 6/);
    expect(metrics).toMatch(/herd_router_decisions_total\{policy="cache_aware",reason="least_cached"\} 2/);
    expect(metrics).toMatch(new RegExp(`herd_router_requests_total\\{worker="${ws[0]!.url}",outcome="ok"\\} 4`));
    expect(metrics).toMatch(/herd_router_cache_hit_rate 0\.[5-9]/);
  });

  it("streams the body through chunk by chunk, byte for byte", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const [w] = await workers(1, (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('data: {"a":"é"}\n\n');
      void gate.then(() => res.end("data: [DONE]\n\n"));
    });
    const r = await router([w!.url]);
    const res = await fetch(`${r.url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: "x", stream: true }) });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const first = await reader.read(); // arrives while the worker still holds the stream open
    expect(Buffer.from(first.value!).toString()).toBe('data: {"a":"é"}\n\n');
    release();
    let rest = "";
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += Buffer.from(c.value).toString();
    expect(rest).toBe("data: [DONE]\n\n");
    expect(r.pool.workers[0]!.numInflight).toBe(0);
  });

  it("aborts the upstream request when the client goes away, without taking the worker out", async () => {
    let upstreamClosed = false;
    const [w] = await workers(1, (req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n");
      req.socket.on("close", () => (upstreamClosed = true));
    });
    const r = await router([w!.url]);
    const abort = new AbortController();
    const res = await fetch(`${r.url}/v1/completions`, { method: "POST", body: "{}", signal: abort.signal });
    await res.body!.getReader().read();
    expect(r.pool.workers[0]!.numInflight).toBe(1);
    abort.abort();
    await waitUntil(() => upstreamClosed && r.pool.workers[0]!.numInflight === 0);
    expect(r.pool.workers[0]!.healthy).toBe(true);
  });

  it("retries once on another worker after a connection error or a 503, and takes the dead one out", async () => {
    const [up] = await workers(1);
    const [draining] = await workers(1, (_req, res) => void res.writeHead(503).end("draining"));
    const dead = await fakeWorker("dead");
    const r = await router([dead.url, up!.url], "round_robin");
    const r503 = await router([draining!.url, up!.url], "round_robin");
    await dead.close(); // healthy at the first check, gone now
    for (const via of [r, r503]) {
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${via.url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: `p${i}` }) });
        expect(res.status).toBe(200);
        expect(((await res.json()) as { worker: string }).worker).toBe("w0");
      }
    }
    expect(draining!.hits.length).toBeGreaterThan(0);
    expect(r.pool.workers.find((w) => w.url === dead.url)!.healthy).toBe(false);
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    expect(metrics).toMatch(/herd_router_decisions_total\{policy="round_robin",reason="retry"\} [1-9]/);
    expect(metrics).toContain(`herd_router_worker_healthy{worker="${dead.url}"} 0`);
  });

  it("passes a 503 through when no other worker is left, and answers 503 itself with none healthy", async () => {
    const [w] = await workers(1, (_req, res) => void res.writeHead(503, { "content-type": "text/plain" }).end("busy"));
    const r = await router([w!.url]);
    const res = await fetch(`${r.url}/v1/completions`, { method: "POST", body: "{}" });
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("busy");
    w!.healthStatus = 500;
    await r.pool.refresh();
    expect((await fetch(`${r.url}/health`)).status).toBe(503);
    const none = await fetch(`${r.url}/v1/completions`, { method: "POST", body: "{}" });
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("no_healthy_worker");
    w!.healthStatus = 200;
    await r.pool.refresh();
    expect((await fetch(`${r.url}/health`)).status).toBe(200);
  });

  it("merges /v1/models of the healthy workers", async () => {
    const ws = await workers(2);
    const r = await router(ws.map((w) => w.url));
    const body = (await (await fetch(`${r.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id).sort()).toEqual(["shared", "w0", "w1"]);
  });
});

describe("WorkerPool", () => {
  it("discovers workers from A records and drops the ones that vanish", async () => {
    let records = ["10.0.0.1", "10.0.0.2"];
    const removed: string[] = [];
    const pool = new WorkerPool({
      source: { kind: "dns", host: "herd-headless.default.svc", port: 8000 },
      healthIntervalMs: 60_000,
      healthTimeoutMs: 1,
      metrics: new RouterMetrics(),
      onRemove: (url) => removed.push(url),
      resolve4: async () => records,
    });
    await pool.refresh();
    expect(pool.workers.map((w) => w.url)).toEqual(["http://10.0.0.1:8000", "http://10.0.0.2:8000"]);
    records = ["10.0.0.2", "10.0.0.3"];
    await pool.refresh();
    expect(pool.workers.map((w) => w.url)).toEqual(["http://10.0.0.2:8000", "http://10.0.0.3:8000"]);
    expect(removed).toEqual(["http://10.0.0.1:8000"]);
    pool.close();
  });
});
