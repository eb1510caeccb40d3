/**
 * `herd router` in front of two real `herd serve` replicas (stories260K): routing by prefix (seen in
 * each replica's own prefix-cache hits), load fallback, a replica's death and return, and SSE
 * passthrough identical to a direct request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getMetric, metricValue, startHerd, waitFor, type HerdServer } from "./helpers/herd-server.js";
import { startHerdRouter, type HerdRouter } from "./helpers/herd-router.js";
import { sharedFixture } from "../fixtures/paths.js";

const model = sharedFixture("stories260K.gguf");
const SERVE_ARGS = [model.path, "--threads", "1"];

const SYSTEM_A = "You are a ship's cat who tells long stories about the sea, the fish and the storms. ".repeat(4);
const SYSTEM_B = "You are a gardener who only talks about carrots, beans, rain and the old oak tree. ".repeat(4);

function chatBody(system: string, user: string, extra: object = {}): string {
  const messages = [
    { role: "system", content: system },
    { role: "user", content: user },
  ];
  return JSON.stringify({ messages, max_tokens: 4, temperature: 0, ...extra });
}

async function post(base: string, path: string, body: string): Promise<Response> {
  return fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
}

const prefixHits = async (s: HerdServer) => (await getMetric(s, "vllm:prefix_cache_hits_total")) ?? 0;
const routed = (metrics: string, worker: HerdServer) => metricValue(metrics, "herd_router_requests_total", { worker: worker.url }) ?? 0;

describe.skipIf(!model.present)("herd router e2e (two stories260K replicas)", () => {
  let replicas: HerdServer[] = [];
  let router: HerdRouter;

  beforeAll(async () => {
    replicas = await Promise.all([startHerd(SERVE_ARGS), startHerd(SERVE_ARGS)]);
    router = await startHerdRouter(["--worker-urls", ...replicas.map((r) => r.url), "--health-check-interval", "0.2"]);
    await waitFor(async () => (await fetch(`${router.url}/health`)).status === 200, "a healthy worker");
  });

  afterAll(async () => {
    await router?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
  });

  it("sends one system prompt to one replica (its prefix cache hits), another to the other", async () => {
    const [hits0, hits1] = [await prefixHits(replicas[0]!), await prefixHits(replicas[1]!)];
    for (const q of ["Hi", "Tell me a story", "What is a fish?", "Bye"])
      expect((await post(router.url, "/v1/chat/completions", chatBody(SYSTEM_A, q))).status).toBe(200);
    let metrics = await router.metrics();
    const [a, other] = routed(metrics, replicas[0]!) === 4 ? [0, 1] : [1, 0];
    expect(routed(metrics, replicas[a]!)).toBe(4);
    expect(routed(metrics, replicas[other]!)).toBe(0);
    expect((await prefixHits(replicas[a]!)) - [hits0, hits1][a]!).toBeGreaterThan(0);
    expect((await prefixHits(replicas[other]!)) - [hits0, hits1][other]!).toBe(0);

    for (const q of ["Hi", "Tell me a story", "What is a bean?", "Bye"])
      expect((await post(router.url, "/v1/chat/completions", chatBody(SYSTEM_B, q))).status).toBe(200);
    metrics = await router.metrics();
    expect(routed(metrics, replicas[other]!)).toBe(4);
    expect((await prefixHits(replicas[other]!)) - [hits0, hits1][other]!).toBeGreaterThan(0);
    expect(metricValue(metrics, "herd_router_decisions_total", { reason: "cache_hit" })).toBe(6);
    expect(metricValue(metrics, "herd_router_cache_hit_rate")).toBeGreaterThan(0.5);

    const models = (await (await fetch(`${router.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data).toHaveLength(1); // both replicas serve the same model: merged
  });

  it("spills one prefix over to the other replica when load is uneven (low balance thresholds)", async () => {
    const balancing = await startHerdRouter([
      "--worker-urls",
      ...replicas.map((r) => r.url),
      "--balance-abs-threshold",
      "1",
      "--balance-rel-threshold",
      "1",
    ]);
    try {
      const body = chatBody(SYSTEM_A, "Tell me a very long story", { max_tokens: 128, ignore_eos: true });
      const answers = await Promise.all(Array.from({ length: 8 }, () => post(balancing.url, "/v1/chat/completions", body)));
      for (const res of answers) expect(res.status).toBe(200);
      const metrics = await balancing.metrics();
      expect(metricValue(metrics, "herd_router_decisions_total", { reason: "load_balance" })).toBeGreaterThan(0);
      for (const r of replicas) expect(routed(metrics, r)).toBeGreaterThan(0);
    } finally {
      await balancing.stop();
    }
  });

  it("passes an SSE stream through unchanged: the same bytes as a direct request but for id and created", async () => {
    const body = chatBody(SYSTEM_B, "Once upon a time", { stream: true, max_tokens: 24, seed: 7 });
    const normalize = (s: string) => s.replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');
    const direct = await post(replicas[0]!.url, "/v1/chat/completions", body);
    const viaRouter = await post(router.url, "/v1/chat/completions", body);
    expect(viaRouter.headers.get("content-type")).toBe(direct.headers.get("content-type"));
    const [d, v] = [await direct.text(), await viaRouter.text()];
    expect(d.split("\n\n").length).toBeGreaterThan(5);
    expect(d.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(normalize(v)).toBe(normalize(d));
  });

  it("routes around a killed replica and takes it back when it returns on the same port", async () => {
    const victim = replicas[1]!;
    // A router whose health checks are too slow to notice: its requests meet the dead replica and retry.
    const slow = await startHerdRouter(["--worker-urls", ...replicas.map((r) => r.url), "--health-check-interval", "600"]);
    for (const system of [SYSTEM_A, SYSTEM_B]) await post(slow.url, "/v1/chat/completions", chatBody(system, "seed")); // one each
    await victim.stop("SIGKILL");
    try {
      for (const system of [SYSTEM_A, SYSTEM_B])
        expect((await post(slow.url, "/v1/chat/completions", chatBody(system, "again"))).status).toBe(200);
      const metrics = await slow.metrics();
      expect(metricValue(metrics, "herd_router_decisions_total", { reason: "retry" })).toBe(1);
      expect(metricValue(metrics, "herd_router_worker_healthy", { worker: victim.url })).toBe(0);
    } finally {
      await slow.stop();
    }
    for (let i = 0; i < 6; i++) {
      // Some of these go to the dead replica before a health check sees it: the router retries them.
      const res = await post(router.url, "/v1/chat/completions", chatBody(i % 2 ? SYSTEM_A : SYSTEM_B, `question ${i}`));
      expect(res.status).toBe(200);
    }
    await waitFor(
      async () => metricValue(await router.metrics(), "herd_router_worker_healthy", { worker: victim.url }) === 0,
      "dead replica out",
    );
    expect((await fetch(`${router.url}/health`)).status).toBe(200);

    replicas[1] = await startHerd([...SERVE_ARGS, "--port", String(victim.port)]);
    await waitFor(
      async () => metricValue(await router.metrics(), "herd_router_worker_healthy", { worker: victim.url }) === 1,
      "replica back",
    );
    const before = routed(await router.metrics(), replicas[1]);
    for (let i = 0; i < 4; i++)
      await post(router.url, "/v1/chat/completions", chatBody(`A brand new system prompt number ${i}. `.repeat(3), "hi"));
    expect(routed(await router.metrics(), replicas[1])).toBeGreaterThan(before);
  });
});
