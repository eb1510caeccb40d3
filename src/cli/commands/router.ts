/**
 * `herd router`: a cache-aware router in front of N herd replicas (or any OpenAI-compatible
 * servers), with SGLang's router flags (`--worker-urls`, `--policy`, `--cache-threshold`,
 * `--balance-abs-threshold`, `--balance-rel-threshold`). Workers come from `--worker-urls`, or from a
 * Kubernetes headless Service's A records (`--worker-dns NAME:PORT`). docs/router.md.
 * @module
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_CACHE_AWARE, POLICY_NAMES, type PolicyName } from "../../router/policy.js";
import { createRouterLogger, startRouter, type RouterConfig } from "../../router/router.js";
import type { WorkerSource } from "../../router/worker-pool.js";

interface RouterOptions {
  workerUrls?: string[];
  workerDns?: string;
  policy: PolicyName;
  host: string;
  port: number;
  cacheThreshold: number;
  balanceAbsThreshold: number;
  balanceRelThreshold: number;
  maxTreeSize: number;
  healthCheckInterval: number;
  healthCheckTimeout: number;
  logLevel: string;
}

function numberArg(min: number, integer: boolean, max = Number.POSITIVE_INFINITY) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`expected ${integer ? "an integer" : "a number"} ${range} (got ${value})`);
    }
    return n;
  };
}

/** `NAME:PORT` of `--worker-dns`. */
export function parseWorkerDns(value: string): { host: string; port: number } {
  const m = /^([^:\s]+):(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError(`expected NAME:PORT (got ${value})`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function toRouterConfig(opts: RouterOptions): RouterConfig {
  let source: WorkerSource;
  if (opts.workerDns !== undefined) {
    if (opts.workerUrls?.length) throw new InvalidArgumentError("give --worker-urls or --worker-dns, not both");
    source = { kind: "dns", ...parseWorkerDns(opts.workerDns) };
  } else if (opts.workerUrls?.length) {
    source = { kind: "urls", urls: opts.workerUrls };
  } else {
    throw new InvalidArgumentError("no workers: give --worker-urls URL [URL…] or --worker-dns NAME:PORT");
  }
  return {
    host: opts.host,
    port: opts.port,
    policy: opts.policy,
    cacheAware: {
      cacheThreshold: opts.cacheThreshold,
      balanceAbsThreshold: opts.balanceAbsThreshold,
      balanceRelThreshold: opts.balanceRelThreshold,
      maxTreeChars: opts.maxTreeSize,
    },
    source,
    healthIntervalMs: opts.healthCheckInterval * 1000,
    healthTimeoutMs: opts.healthCheckTimeout * 1000,
  };
}

export function register(program: Command): void {
  const d = DEFAULT_CACHE_AWARE;
  program
    .command("router")
    .description("route OpenAI-compatible requests across herd replicas (cache-aware, SGLang's policies and flags)")
    .option("--worker-urls <url...>", "worker base URLs (http://host:port)")
    .option("--worker-dns <name:port>", "discover workers from a headless Service: NAME's A records, each at PORT")
    .addOption(new Option("--policy <policy>", "routing policy").choices([...POLICY_NAMES]).default("cache_aware"))
    .option("--host <host>", "address to listen on", "0.0.0.0")
    .option("--port <port>", "port to listen on (0: any free port)", numberArg(0, true, 65535), 30000)
    .option(
      "--cache-threshold <f>",
      "cache_aware: minimum prefix-match fraction to route by cache",
      numberArg(0, false, 1),
      d.cacheThreshold,
    )
    .option(
      "--balance-abs-threshold <n>",
      "cache_aware: balance load when max − min in-flight exceeds this…",
      numberArg(0, true),
      d.balanceAbsThreshold,
    )
    .option("--balance-rel-threshold <f>", "…and max > min × this", numberArg(0, false), d.balanceRelThreshold)
    .option("--max-tree-size <chars>", "cache_aware: characters kept per worker tree (LRU eviction)", numberArg(1, true), d.maxTreeChars)
    .option("--health-check-interval <s>", "seconds between health checks (and DNS lookups)", numberArg(0.1, false), 5)
    .option("--health-check-timeout <s>", "seconds a worker has to answer a health check", numberArg(0.1, false), 3)
    .addOption(new Option("--log-level <level>", "log level").choices(["debug", "info", "warn", "error"]).default("info"))
    .action(async (opts: RouterOptions) => {
      const router = await startRouter(toRouterConfig(opts), createRouterLogger(opts.logLevel));
      const onSignal = () => void router.close().then(() => process.exit(0));
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
}
