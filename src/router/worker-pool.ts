/**
 * The workers behind the router, their health and their load.
 *
 * Discovery: a fixed list of URLs, or a Kubernetes headless Service: `--worker-dns NAME:PORT`
 * resolves NAME's A records every health interval, and each address becomes `http://IP:PORT`
 * (pods that appear are added, pods that vanish are dropped).
 *
 * Health, every interval: `GET /health` must answer 2xx within the timeout, and `GET /ready` must
 * not answer 503 (herd's readiness: loading, draining or engine dead; servers without `/ready`
 * answer 404 and pass). A worker that fails is taken out of routing and put back when it passes
 * again. A connection error while proxying takes a worker out at once (`markDown`).
 * @module
 */
import { promises as dns } from "node:dns";
import type { RouterMetrics } from "./metrics.js";
import type { WorkerLoad } from "./policy.js";

export interface Worker extends WorkerLoad {
  readonly url: string;
  healthy: boolean;
  numInflight: number;
}

export type WorkerSource =
  | { readonly kind: "urls"; readonly urls: readonly string[] }
  | { readonly kind: "dns"; readonly host: string; readonly port: number };

export interface WorkerPoolOptions {
  source: WorkerSource;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  metrics: RouterMetrics;
  /** Called when a worker leaves the pool (the policy forgets it). */
  onRemove?: (url: string) => void;
  /** Called when a worker's health changes. */
  onHealthChange?: (worker: Worker) => void;
  /** Replaces A-record lookup (tests). */
  resolve4?: (host: string) => Promise<string[]>;
}

/** `http://host:port` without a trailing slash. */
export function normalizeWorkerUrl(url: string): string {
  const u = new URL(url.includes("://") ? url : `http://${url}`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
}

export class WorkerPool {
  readonly #workers = new Map<string, Worker>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(readonly options: WorkerPoolOptions) {
    if (options.source.kind === "urls") for (const url of options.source.urls) this.#add(normalizeWorkerUrl(url));
  }

  get workers(): Worker[] {
    return [...this.#workers.values()];
  }

  get healthyWorkers(): Worker[] {
    return this.workers.filter((w) => w.healthy);
  }

  /** Discovers and checks once, then again every interval. */
  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      if (this.#closed) return;
      this.#timer = setTimeout(() => void this.refresh().finally(tick), this.options.healthIntervalMs);
      this.#timer.unref();
    };
    tick();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** One round: discovery (DNS), then a health check of every worker. */
  async refresh(): Promise<void> {
    await this.#discover();
    await Promise.all(this.workers.map(async (w) => this.#setHealthy(w, await this.#check(w.url))));
  }

  /** A proxied request could not reach `worker`: route around it until a health check passes. */
  markDown(worker: Worker): void {
    this.#setHealthy(worker, false);
  }

  /** Counts a request in or out of a worker's in-flight total. */
  addInflight(worker: Worker, delta: number): void {
    worker.numInflight += delta;
    this.options.metrics.inflight(worker.url, worker.numInflight);
  }

  #add(url: string): void {
    if (this.#workers.has(url)) return;
    this.#workers.set(url, { url, healthy: false, numInflight: 0 });
    this.options.metrics.healthy(url, false);
    this.options.metrics.inflight(url, 0);
  }

  async #discover(): Promise<void> {
    const source = this.options.source;
    if (source.kind !== "dns") return;
    let addresses: string[];
    try {
      addresses = await (this.options.resolve4 ?? dns.resolve4)(source.host);
    } catch {
      addresses = []; // NXDOMAIN while the Service has no ready pods
    }
    const urls = new Set(addresses.map((ip) => `http://${ip}:${source.port}`));
    for (const url of urls) this.#add(url);
    for (const url of this.#workers.keys()) {
      if (urls.has(url)) continue;
      this.#workers.delete(url);
      this.options.metrics.removeWorker(url);
      this.options.onRemove?.(url);
    }
  }

  async #check(url: string): Promise<boolean> {
    const signal = AbortSignal.timeout(this.options.healthTimeoutMs);
    try {
      const health = await fetch(`${url}/health`, { signal });
      await health.body?.cancel();
      if (!health.ok) return false;
      const ready = await fetch(`${url}/ready`, { signal });
      await ready.body?.cancel();
      return ready.status !== 503;
    } catch {
      return false;
    }
  }

  #setHealthy(worker: Worker, healthy: boolean): void {
    if (!this.#workers.has(worker.url) || worker.healthy === healthy) return;
    worker.healthy = healthy;
    this.options.metrics.healthy(worker.url, healthy);
    this.options.onHealthChange?.(worker);
  }
}
