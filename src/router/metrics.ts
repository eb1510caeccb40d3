/**
 * The router's own Prometheus metrics, in a registry of its own (`GET /metrics` of `herd router`):
 * per-worker requests, in-flight and health, routing decisions by policy and reason, and the
 * cache-hit estimate of cache_aware (characters of request texts found in the chosen worker's tree
 * over all characters routed).
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { DecisionReason, PolicyName } from "./policy.js";

export class RouterMetrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: "herd_router_requests_total",
    help: "Requests sent to each worker (retries included), by the worker's answer class.",
    labelNames: ["worker", "outcome"] as const,
    registers: [this.registry],
  });
  readonly #inflight = new Gauge({
    name: "herd_router_inflight",
    help: "Requests in flight at each worker.",
    labelNames: ["worker"] as const,
    registers: [this.registry],
  });
  readonly #healthy = new Gauge({
    name: "herd_router_worker_healthy",
    help: "1 while a worker passes its health check and is routed to, else 0.",
    labelNames: ["worker"] as const,
    registers: [this.registry],
  });
  readonly #decisions = new Counter({
    name: "herd_router_decisions_total",
    help: "Routing decisions by policy and reason (cache_hit, least_cached, load_balance, round_robin, random, retry).",
    labelNames: ["policy", "reason"] as const,
    registers: [this.registry],
  });
  readonly #matchedChars = new Counter({
    name: "herd_router_cache_matched_chars_total",
    help: "Characters of routed request texts found in the chosen worker's approximate tree.",
    registers: [this.registry],
  });
  readonly #routedChars = new Counter({
    name: "herd_router_routed_chars_total",
    help: "Characters of routed request texts (the denominator of the cache-hit estimate).",
    registers: [this.registry],
  });
  readonly #hitRate = new Gauge({
    name: "herd_router_cache_hit_rate",
    help: "Cache-hit estimate: matched characters / routed characters since start.",
    registers: [this.registry],
  });
  #numMatched = 0;
  #numRouted = 0;

  decision(policy: PolicyName, reason: DecisionReason, matchedChars: number, textChars: number): void {
    this.#decisions.inc({ policy, reason });
    if (textChars === 0) return;
    this.#matchedChars.inc(matchedChars);
    this.#routedChars.inc(textChars);
    this.#numMatched += matchedChars;
    this.#numRouted += textChars;
    this.#hitRate.set(this.#numMatched / this.#numRouted);
  }

  request(worker: string, outcome: "ok" | "error" | "unavailable"): void {
    this.#requests.inc({ worker, outcome });
  }

  inflight(worker: string, n: number): void {
    this.#inflight.set({ worker }, n);
  }

  healthy(worker: string, healthy: boolean): void {
    this.#healthy.set({ worker }, healthy ? 1 : 0);
  }

  removeWorker(worker: string): void {
    this.#inflight.remove({ worker });
    this.#healthy.remove({ worker });
  }
}
