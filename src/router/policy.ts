/**
 * Routing policies, with SGLang's router names: `cache_aware`, `round_robin`, `random`,
 * `power_of_two`. A policy picks one of the healthy workers for a request's text.
 *
 * cache_aware (SGLang's algorithm, on an approximate radix tree per worker):
 *   1. load check: if the busiest and the idlest worker differ by more than `balanceAbsThreshold`
 *      requests in flight AND busiest > idlest × `balanceRelThreshold`, the load is uneven: route to
 *      the least-loaded worker (reason `load_balance`);
 *   2. otherwise find the worker whose tree matches the longest prefix of the text; if the matched
 *      fraction is ≥ `cacheThreshold`, route there (`cache_hit`);
 *   3. else route to the worker with the smallest tree, the one with the most cache room
 *      (`least_cached`).
 *   In every case the text is then inserted into the chosen worker's tree.
 * @module
 */
import { RadixTree } from "./radix-tree.js";

export const POLICY_NAMES = ["cache_aware", "round_robin", "random", "power_of_two"] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Why a worker was picked (the `reason` label of `herd_router_decisions_total`). */
export type DecisionReason = "cache_hit" | "least_cached" | "load_balance" | "round_robin" | "random" | "retry";

/** What a policy sees of a worker. */
export interface WorkerLoad {
  readonly url: string;
  /** Requests routed to it that have not finished. */
  readonly numInflight: number;
}

export interface Decision<W extends WorkerLoad> {
  readonly worker: W;
  readonly reason: DecisionReason;
  /** Characters of the text found in the chosen worker's tree (cache_aware; else 0). */
  readonly matchedChars: number;
}

export interface Policy {
  readonly name: PolicyName;
  /** Picks one of `workers` (non-empty, all healthy) for a request whose routing text is `text`. */
  select<W extends WorkerLoad>(workers: readonly W[], text: string): Decision<W>;
  /** Forgets a worker that left the pool. */
  removeWorker(url: string): void;
}

export interface CacheAwareOptions {
  /** Minimum matched fraction of the text to route by cache (SGLang `--cache-threshold`, default 0.5). */
  cacheThreshold: number;
  /** In-flight difference above which load may be uneven (SGLang `--balance-abs-threshold`, default 32). */
  balanceAbsThreshold: number;
  /** Ratio busiest / idlest above which load may be uneven (SGLang `--balance-rel-threshold`, default 1.0001). */
  balanceRelThreshold: number;
  /** Characters kept per worker tree before LRU eviction (SGLang `--max-tree-size`). */
  maxTreeChars: number;
}

export const DEFAULT_CACHE_AWARE: CacheAwareOptions = {
  cacheThreshold: 0.5,
  balanceAbsThreshold: 32,
  balanceRelThreshold: 1.0001,
  maxTreeChars: 4 * 1024 * 1024,
};

function leastLoaded<W extends WorkerLoad>(workers: readonly W[]): W {
  return workers.reduce((a, b) => (b.numInflight < a.numInflight ? b : a));
}

/** True when the load is uneven enough for cache_aware to balance instead (both thresholds exceeded). */
export function isImbalanced(workers: readonly WorkerLoad[], abs: number, rel: number): boolean {
  if (workers.length < 2) return false;
  const loads = workers.map((w) => w.numInflight);
  const max = Math.max(...loads);
  const min = Math.min(...loads);
  return max - min > abs && max > min * rel;
}

export class CacheAwarePolicy implements Policy {
  readonly name = "cache_aware";
  readonly #trees = new Map<string, RadixTree>();

  constructor(readonly options: CacheAwareOptions = DEFAULT_CACHE_AWARE) {}

  #tree(url: string): RadixTree {
    let tree = this.#trees.get(url);
    if (!tree) this.#trees.set(url, (tree = new RadixTree(this.options.maxTreeChars)));
    return tree;
  }

  /** Characters in a worker's tree (tests, metrics). */
  treeChars(url: string): number {
    return this.#trees.get(url)?.numChars ?? 0;
  }

  select<W extends WorkerLoad>(workers: readonly W[], text: string): Decision<W> {
    const { balanceAbsThreshold, balanceRelThreshold, cacheThreshold } = this.options;
    const matches = workers.map((w) => this.#tree(w.url).matchPrefixLength(text));
    let decision: Decision<W>;
    if (isImbalanced(workers, balanceAbsThreshold, balanceRelThreshold)) {
      const worker = leastLoaded(workers);
      decision = { worker, reason: "load_balance", matchedChars: matches[workers.indexOf(worker)]! };
    } else {
      let best = 0;
      for (let i = 1; i < workers.length; i++) if (matches[i]! > matches[best]!) best = i;
      if (text.length > 0 && matches[best]! / text.length >= cacheThreshold) {
        decision = { worker: workers[best]!, reason: "cache_hit", matchedChars: matches[best]! };
      } else {
        let smallest = 0;
        for (let i = 1; i < workers.length; i++) {
          if (this.treeChars(workers[i]!.url) < this.treeChars(workers[smallest]!.url)) smallest = i;
        }
        decision = { worker: workers[smallest]!, reason: "least_cached", matchedChars: matches[smallest]! };
      }
    }
    if (text.length > 0) this.#tree(decision.worker.url).insert(text);
    return decision;
  }

  removeWorker(url: string): void {
    this.#trees.delete(url);
  }
}

export class RoundRobinPolicy implements Policy {
  readonly name = "round_robin";
  #next = 0;
  select<W extends WorkerLoad>(workers: readonly W[]): Decision<W> {
    const worker = workers[this.#next++ % workers.length]!;
    return { worker, reason: "round_robin", matchedChars: 0 };
  }
  removeWorker(): void {}
}

export class RandomPolicy implements Policy {
  readonly name = "random";
  constructor(private readonly random: () => number = Math.random) {}
  select<W extends WorkerLoad>(workers: readonly W[]): Decision<W> {
    return { worker: workers[Math.floor(this.random() * workers.length)]!, reason: "random", matchedChars: 0 };
  }
  removeWorker(): void {}
}

/** Two workers drawn at random; the one with fewer requests in flight wins. */
export class PowerOfTwoPolicy implements Policy {
  readonly name = "power_of_two";
  constructor(private readonly random: () => number = Math.random) {}
  select<W extends WorkerLoad>(workers: readonly W[]): Decision<W> {
    const a = workers[Math.floor(this.random() * workers.length)]!;
    const rest = workers.filter((w) => w !== a);
    const b = rest.length > 0 ? rest[Math.floor(this.random() * rest.length)]! : a;
    return { worker: b.numInflight < a.numInflight ? b : a, reason: "load_balance", matchedChars: 0 };
  }
  removeWorker(): void {}
}

export function createPolicy(name: PolicyName, options: CacheAwareOptions = DEFAULT_CACHE_AWARE): Policy {
  switch (name) {
    case "cache_aware":
      return new CacheAwarePolicy(options);
    case "round_robin":
      return new RoundRobinPolicy();
    case "random":
      return new RandomPolicy();
    case "power_of_two":
      return new PowerOfTwoPolicy();
    default:
      return name satisfies never;
  }
}
