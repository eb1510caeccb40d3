/**
 * Cache-aware routing, measured (issue 17): 2 local `herd serve` replicas behind `herd router`, a
 * multi-tenant shared-prefix workload (`herd bench`'s `prefix_repetition`: many distinct ~1k-token
 * prefixes, short suffixes), run with `--policy cache_aware` and with `--policy round_robin`.
 *
 *   npx tsx bench/router.ts [--model X.gguf] [--repeat 2] [--policies cache_aware,round_robin]
 *     [--num-prefixes 16] [--prefix-len 1024] [--suffix-len 32] [--output-len 8] [--num-prompts 192]
 *     [--max-concurrency 4] [--threads 1] [--max-num-seqs 4] [--kv-tokens 12288] [--max-cached-tokens 11000]
 *     [--kill-replica-at S] [--out F.json]
 *
 * Each round draws one set of prompts (seed = round) and runs every policy on it, alternating which
 * goes first; before each run both replicas and the router are started afresh, so no run profits from
 * a cache an earlier one filled. The KV cache of one replica holds about half of the prefixes (the
 * defaults: 16 × 1024 words against 12288 cells): cache_aware keeps each tenant on one replica and
 * both halves stay cached; round_robin sends every tenant to both, and each replica's LRU evicts.
 * `--max-cached-tokens` lets finished prefixes keep most of the KV cache: herd's auto cap (at least
 * min(max-model-len, 4096) cells while others decode, docs/engine.md) keeps about 3 tenants, so
 * neither policy gets hits (measured: cache_aware 1.03× round_robin's TTFT with the auto cap).
 * Reports mean TTFT and output throughput per policy (median over rounds) and cache_aware / round_robin.
 * Targets (issue 17): mean TTFT ≤ 0.5×, throughput ≥ 1.0×.
 *
 * `--kill-replica-at S`: one run with the first policy instead; S seconds in, the second replica is
 * killed (SIGKILL). Its in-flight requests (its `vllm:num_requests_running` + `_waiting` just before)
 * may fail; every other request must complete through the first replica. Reports which failed.
 *
 * Replicas run with `--threads 1` each (a 2-core machine: one core per replica) and a small
 * `--max-num-seqs`. The router is spawned as a process (`src/cli/main.ts router --worker-urls …
 * --policy P --host 127.0.0.1 --port 0`), its port read from its `listening on` log line. The load is
 * generated in this process by `herd bench`'s runner (src/bench). Results: stdout (a Markdown table for
 * docs/bench.md) and `.cache/bench/router-<date>.json`. Not a test: run it on a quiet machine.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type DatasetOptions, makeDataset, type RunResult, runBenchmark, type TargetOptions } from "../src/bench/index.js";
import { ensureEmbeddedModel } from "../src/model/embedded.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    repeat: { type: "string", default: "2" },
    policies: { type: "string", default: "cache_aware,round_robin" },
    "num-prefixes": { type: "string", default: "16" },
    "prefix-len": { type: "string", default: "1024" },
    "suffix-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "8" },
    "num-prompts": { type: "string", default: "192" },
    "max-concurrency": { type: "string", default: "4" },
    threads: { type: "string", default: "1" },
    "max-num-seqs": { type: "string", default: "4" },
    "kv-tokens": { type: "string", default: "12288" },
    "max-cached-tokens": { type: "string", default: "11000" },
    "kill-replica-at": { type: "string" },
    "herd-args": { type: "string", default: "" },
    "router-args": { type: "string", default: "" },
    out: { type: "string" },
  },
});

function num(name: keyof typeof args, min: number): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}, got ${String(args[name])}`);
  return v;
}
const REPEAT = num("repeat", 1);
const POLICIES = args.policies!.split(",").map((p) => p.trim());
const KV = num("kv-tokens", 256);
const KILL_AT = args["kill-replica-at"] === undefined ? null : num("kill-replica-at", 0);
const MODEL_NAME = "bench";

interface Proc {
  name: string;
  url: string;
  child: ChildProcess;
  argv: string[];
  log: () => string;
}

function capture(child: ChildProcess): () => string {
  let log = "";
  const add = (d: Buffer) => (log = (log + d.toString()).slice(-50_000));
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => log;
}

async function waitReady(p: Omit<Proc, "argv">): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}):\n${p.log().slice(-3000)}`);
    try {
      if ((await fetch(`${p.url}/ready`)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${p.name} did not become ready:\n${p.log().slice(-3000)}`);
    await sleep(250);
  }
}

async function startReplica(model: string, i: number): Promise<Proc> {
  const port = 18451 + i;
  const argv = [
    "serve",
    model,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--threads",
    args.threads!,
    "--max-num-seqs",
    args["max-num-seqs"]!,
    "--kv-cache-tokens",
    String(KV),
    "--max-model-len",
    String(Math.min(KV, 4096)),
    "--served-model-name",
    MODEL_NAME,
    "--disable-log-requests",
    "--max-cached-tokens",
    String(num("max-cached-tokens", 0)),
    ...(args["herd-args"] ? args["herd-args"].split(/\s+/) : []),
  ];
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...argv], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const p = { name: `replica ${i}`, url: `http://127.0.0.1:${port}`, child, log: capture(child) };
  await waitReady(p);
  return { ...p, argv: ["herd", ...argv] };
}

/** `herd router` as a process on a free port; its port comes from the JSON `listening on` log line. */
async function startRouter(workers: Proc[], policy: string): Promise<Proc> {
  const argv = [
    "router",
    "--worker-urls",
    ...workers.map((w) => w.url),
    "--policy",
    policy,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...(args["router-args"] ? args["router-args"].split(/\s+/) : []),
  ];
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...argv], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stderr?.on("data", (d: Buffer) => (text = (text + d.toString()).slice(-50_000)));
  const port = await new Promise<number>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`herd router did not log "listening on" within 60 s:\n${text}`)), 60_000);
    child.once("exit", (code) => fail(new Error(`herd router exited (${code}) before listening:\n${text}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      text = (text + line + "\n").slice(-50_000);
      try {
        const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if (typeof entry.msg === "string" && entry.msg.startsWith("listening on") && typeof entry.port === "number") {
          clearTimeout(timer);
          done(entry.port);
        }
      } catch {
        /* not a JSON log line */
      }
    });
  });
  return { name: `router (${policy})`, url: `http://127.0.0.1:${port}`, child, argv: ["herd", ...argv], log: () => text };
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

function datasetOptions(seed: number): DatasetOptions {
  return {
    numPrompts: num("num-prompts", 1),
    seed,
    randomInputLen: 16,
    randomOutputLen: 8,
    randomRangeRatio: 0,
    randomPrefixLen: 0,
    prefixLen: num("prefix-len", 1),
    suffixLen: num("suffix-len", 1),
    numPrefixes: num("num-prefixes", 1),
    prefixOutputLen: num("output-len", 1),
    numTurns: 1,
    mmBaseItemsPerRequest: 1,
    mmNumItemsRangeRatio: 0,
    imageWidth: 8,
    imageHeight: 8,
  };
}

function target(url: string): TargetOptions {
  return {
    baseUrl: url,
    endpoint: "/v1/completions",
    kind: "completions",
    model: MODEL_NAME,
    ignoreEos: true,
    extraBody: { temperature: 0 },
    timeoutMs: 600_000,
  };
}

/** One short unrelated request per replica, straight to it: first decodes allocate compute buffers. */
async function warm(replicas: Proc[]): Promise<void> {
  const conv = makeDataset("random", { ...datasetOptions(99_999), numPrompts: 1 });
  for (const r of replicas)
    await runBenchmark(target(r.url), conv, {
      load: { requestRate: Infinity, maxConcurrency: 1 },
      burstiness: 1,
      seed: 0,
      percentiles: [],
    });
}

/** Gauges from a replica's /metrics (null if it does not answer). */
async function inFlight(url: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    let n = 0;
    for (const m of text.matchAll(/^vllm:num_requests_(?:running|waiting)(?:\{[^}]*\})? ([0-9.e+]+)$/gm)) n += Number(m[1]);
    return n;
  } catch {
    return null;
  }
}

interface Measured {
  policy: string;
  round: number;
  meanTtftMs: number;
  outputThroughput: number;
  requestThroughput: number;
  completed: number;
  failed: number;
  durationS: number;
}

interface KillReport {
  policy: string;
  killAtS: number;
  killedInFlight: number | null;
  completed: number;
  failed: number;
  /** Failed requests that started before the kill and had not finished at it. */
  failedInFlightAtKill: number;
  /** Failed requests that started after the kill (none expected). */
  failedAfterKill: number;
  errors: string[];
  pass: boolean;
}

async function oneRun(
  model: string,
  policy: string,
  seed: number,
  kill: number | null,
): Promise<{ result: RunResult; killInfo?: { atMs: number; inFlight: number | null } }> {
  const replicas: Proc[] = [];
  let router: Proc | null = null;
  try {
    for (let i = 0; i < 2; i++) replicas.push(await startReplica(model, i));
    await warm(replicas);
    router = await startRouter(replicas, policy);
    const conversations = makeDataset("prefix_repetition", datasetOptions(seed));
    const t0 = performance.now();
    let killInfo: { atMs: number; inFlight: number | null } | undefined;
    const killer =
      kill === null
        ? null
        : sleep(kill * 1000).then(async () => {
            const victim = replicas[1]!;
            const n = await inFlight(victim.url);
            victim.child.kill("SIGKILL");
            killInfo = { atMs: performance.now() - t0, inFlight: n };
            console.error(`  killed ${victim.name} at ${(killInfo.atMs / 1000).toFixed(1)} s (${n ?? "?"} requests in flight on it)`);
          });
    const result = await runBenchmark(target(router.url), conversations, {
      load: { requestRate: Infinity, maxConcurrency: num("max-concurrency", 1) },
      burstiness: 1,
      seed,
      percentiles: [50, 99],
    });
    await killer;
    return killInfo ? { result, killInfo } : { result };
  } finally {
    if (router) await stop(router);
    for (const r of replicas) await stop(r);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function measured(policy: string, round: number, r: RunResult): Measured {
  const m = r.metrics as unknown as Record<string, number>;
  return {
    policy,
    round,
    meanTtftMs: m["mean_ttft_ms"]!,
    outputThroughput: m["output_throughput"]!,
    requestThroughput: m["request_throughput"]!,
    completed: m["completed"]!,
    failed: m["failed"]!,
    durationS: m["duration"]!,
  };
}

async function main(): Promise<void> {
  const model = args.model ? resolve(args.model) : await ensureEmbeddedModel({ preset: "bench", quant: "Q8_0" });
  const date = new Date();
  const dir = join(ROOT, ".cache/bench");
  await mkdir(dir, { recursive: true });
  const out = args.out ?? join(dir, `router-${date.toISOString().replace(/[:.]/g, "-")}.json`);
  console.log(`herd router: cache_aware vs round_robin — ${date.toISOString()}`);
  console.log(
    `cpu: ${cpus()[0]?.model ?? "?"} (${availableParallelism()} cores); load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `model: ${model}; 2 replicas × (threads ${args.threads}, max-num-seqs ${args["max-num-seqs"]}, ${KV} KV cells); ` +
      `prefix_repetition: ${args["num-prefixes"]} prefixes × ${args["prefix-len"]} words, suffix ${args["suffix-len"]}, ` +
      `${args["output-len"]} out, ${args["num-prompts"]} prompts, concurrency ${args["max-concurrency"]}`,
  );

  if (KILL_AT !== null) {
    const policy = POLICIES[0]!;
    const { result, killInfo } = await oneRun(model, policy, 1, KILL_AT);
    const atMs = killInfo?.atMs ?? Infinity;
    const failed = result.outputs.filter((o) => !o.success);
    const inFlightAtKill = failed.filter((o) => o.startMs <= atMs && o.startMs + o.latencyMs >= atMs).length;
    const afterKill = failed.filter((o) => o.startMs > atMs).length;
    const report: KillReport = {
      policy,
      killAtS: KILL_AT,
      killedInFlight: killInfo?.inFlight ?? null,
      completed: result.outputs.length - failed.length,
      failed: failed.length,
      failedInFlightAtKill: inFlightAtKill,
      failedAfterKill: afterKill,
      errors: [...new Set(failed.map((o) => o.error))].slice(0, 5),
      // Only requests in flight at the kill may fail, and no more than the killed replica held.
      pass: afterKill === 0 && inFlightAtKill === failed.length && (killInfo?.inFlight == null || failed.length <= killInfo.inFlight),
    };
    console.log("");
    console.log(
      "| policy | killed at | in flight on the killed replica | completed | failed | " +
        "failed, in flight at the kill | failed, sent after | ok |",
    );
    console.log("|---|---|---|---|---|---|---|---|");
    console.log(
      `| ${policy} | ${KILL_AT} s | ${report.killedInFlight ?? "?"} | ${report.completed} | ${report.failed} | ` +
        `${report.failedInFlightAtKill} | ${report.failedAfterKill} | ${report.pass ? "yes" : "NO"} |`,
    );
    if (report.errors.length > 0) console.log(`\nerrors: ${report.errors.join("; ")}`);
    await writeFile(out, `${JSON.stringify({ date: date.toISOString(), model, args, kill: report }, null, 2)}\n`);
    console.log(`\nsaved ${out}`);
    if (!report.pass) process.exitCode = 1;
    return;
  }

  const runs: Measured[] = [];
  for (let round = 0; round < REPEAT; round++) {
    // The same prompts for every policy in a round; alternate which policy goes first.
    const order = round % 2 === 0 ? POLICIES : [...POLICIES].reverse();
    for (const policy of order) {
      const { result } = await oneRun(model, policy, 1000 + round, null);
      const x = measured(policy, round, result);
      runs.push(x);
      console.error(
        `  round ${round} ${policy}: mean TTFT ${x.meanTtftMs.toFixed(0)} ms, ${x.outputThroughput.toFixed(2)} tok/s out, ` +
          `${x.failed} failed (load ${loadavg()[0]!.toFixed(2)})`,
      );
    }
  }
  const rows = POLICIES.map((policy) => {
    const mine = runs.filter((r) => r.policy === policy);
    return {
      policy,
      meanTtftMs: median(mine.map((r) => r.meanTtftMs)),
      outputThroughput: median(mine.map((r) => r.outputThroughput)),
      failed: mine.reduce((s, r) => s + r.failed, 0),
    };
  });
  const base = rows.find((r) => r.policy === "round_robin") ?? rows[rows.length - 1]!;
  console.log("");
  console.log(`| policy | mean TTFT (ms) | output throughput (tok/s) | TTFT / ${base.policy} | throughput / ${base.policy} | failed |`);
  console.log("|---|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.policy} | ${r.meanTtftMs.toFixed(0)} | ${r.outputThroughput.toFixed(2)} | ${(r.meanTtftMs / base.meanTtftMs).toFixed(2)}× | ` +
        `${(r.outputThroughput / base.outputThroughput).toFixed(2)}× | ${r.failed} |`,
    );
  console.log(`\ntargets (issue 17): cache_aware mean TTFT ≤ 0.5× round_robin's, throughput ≥ 1.0× (medians over ${REPEAT} rounds)`);
  await writeFile(out, `${JSON.stringify({ date: date.toISOString(), cpu: cpus()[0]?.model, model, args, rows, runs }, null, 2)}\n`);
  console.log(`\nsaved ${out}`);
}

await main();
