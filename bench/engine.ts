/**
 * Engine benchmark (issue 2): herd's engine against llama.cpp on the same GGUF file, the same prebuilt
 * kernels and the same thread count.
 *
 *   npx tsx bench/engine.ts [--model X.gguf] [--threads 2] [--concurrency 1,8,32] [--peer batched-bench,server]
 *
 * Measures, for each concurrency N (N distinct prompts of `--prompt-tokens` tokens, `--gen-tokens`
 * generated tokens each, greedy, ignore_eos):
 * - **decode tok/s**: steady-state generation rate while all N sequences decode together: the tokens
 *   that arrive between the moment the last request got its first token and the moment the first
 *   request finished, divided by that time. N = 1 is single-stream decode speed.
 * - **e2e tok/s**: N × gen tokens / (submit → last token), prefill included.
 *
 * Sides:
 * - **herd**: `InProcessClient` (or `--client process`), unified KV, prefix caching off (prompts are
 *   distinct; `--prefix-caching` turns it on), one engine reused for every N. `--decode-thread
 *   caller|worker` overrides where llama_decode runs (`EngineConfig.syncDecode`).
 * - **llama-batched-bench** (`-kvu`, same -c/-b/-ub/-t): llama.cpp's raw decode loop, no sampling, no
 *   detokenization: the kernel ceiling.
 * - **llama-server** (`--parallel N -kvu`), N concurrent streaming `/completion` requests with the
 *   same prompt token ids, `samplers: ["top_k"], top_k: 1` (its cheapest greedy path).
 * Both herd and llama-server get the same `logit_bias` (+50 on ~30 ASCII word tokens) so the random
 * model emits valid UTF-8 (llama-cpp-build.md F2; see `findAsciiTokens`).
 *
 * The peers come from `scripts/build-llama-peer.sh` (linked against the same prebuilt libllama/libggml
 * herd loads). The default model is the `bench` preset random Llama 4 quantized to Q8_0 (generated once
 * and cached). Results go to stdout and `.cache/bench/engine-<date>.json`; `--report FILE.json`
 * prints the table of a saved run again.
 *
 * Sides run interleaved (for each N and `--repeat`: herd, batched-bench, server; the table shows the
 * median repeat). Other jobs on the machine skew CPU benchmarks badly (ggml spin barriers,
 * llama-cpp-ffi.md §5): before each measurement the cores kept busy by other processes are sampled
 * from /proc/stat and the run waits (up to `--wait-quiet-s`) until they drop below `--max-busy`; what
 * was seen is recorded next to every number; a measurement during which other jobs used more than
 * `--max-busy` cores is repeated (up to `--retries` times).
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { InProcessClient } from "../src/engine/client/in-process-client.js";
import { ProcessClient } from "../src/engine/client/process-client.js";
import type { EngineClient } from "../src/engine/client/engine-client.js";
import { defaultEngineConfig } from "../src/engine/config.js";
import { Sampler } from "../src/engine/sample/sampler.js";
import { defaultSamplingParams } from "../src/engine/sample/sampling-params.js";
import type { EngineConfig, EngineRequest } from "../src/engine/types.js";
import { getBindings } from "../src/native/bindings.js";
import { ensureEmbeddedModel } from "../src/model/embedded.js";
import { llamaPeerFlags } from "./llama-peer.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "2" },
    concurrency: { type: "string", default: "1,8,32" },
    "prompt-tokens": { type: "string", default: "64" },
    "gen-tokens": { type: "string", default: "128" },
    peer: { type: "string", default: "batched-bench,server" },
    "peer-bin": { type: "string", default: join(ROOT, ".cache/llama-peer/bin") },
    client: { type: "string", default: "in-process" },
    "prefix-caching": { type: "boolean", default: false },
    "decode-thread": { type: "string", default: "engine-default" },
    "kv-tokens": { type: "string", default: "8192" },
    "batch-tokens": { type: "string", default: "512" },
    "max-busy": { type: "string", default: "0.3" },
    "wait-quiet-s": { type: "string", default: "120" },
    repeat: { type: "string", default: "1" },
    retries: { type: "string", default: "3" },
    out: { type: "string" },
    report: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  const doc = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  console.log(
    doc
      .slice(
        1,
        doc.findIndex((l) => l.includes("@module")),
      )
      .map((l) => l.replace(/^ \* ?/, ""))
      .join("\n"),
  );
  process.exit(0);
}

const int = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer (got ${v})`);
  return n;
};
const THREADS = int("threads", args.threads);
const LEVELS = args.concurrency.split(",").map((s) => int("concurrency", s.trim()));
const PROMPT = int("prompt-tokens", args["prompt-tokens"]);
const GEN = int("gen-tokens", args["gen-tokens"]);
const KV = int("kv-tokens", args["kv-tokens"]);
const BATCH = int("batch-tokens", args["batch-tokens"]);
const MAX_BUSY = Number(args["max-busy"]);
const WAIT_S = int("wait-quiet-s", args["wait-quiet-s"]);
const REPEAT = Math.max(1, int("repeat", args.repeat));
const RETRIES = int("retries", args.retries);
const PEERS = new Set(
  args.peer
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s && s !== "none"),
);
const MAX_N = Math.max(...LEVELS);
if (!["engine-default", "caller", "worker"].includes(args["decode-thread"])) throw new Error("--decode-thread must be caller or worker");
if (!["in-process", "process"].includes(args.client)) throw new Error("--client must be in-process or process");
if (MAX_N * (PROMPT + GEN) > KV) throw new Error(`--kv-tokens ${KV} < ${MAX_N} × (${PROMPT} + ${GEN})`);

// ---------------------------------------------------------------------------------------------------
// Measurement records

interface Measurement {
  side: string;
  n: number;
  /** Steady-state generation rate with all n sequences decoding. */
  decodeTps: number;
  /** n × gen tokens / (submit → last token). */
  e2eTps: number;
  wallS: number;
  load: Load;
  extra?: Record<string, unknown>;
}

/** What else ran on the machine: cores busy (all processes) just before the run, 1-minute load average. */
interface Load {
  busyBefore: number;
  /** Cores used by other processes during the measurement (all CPU time minus ours and our children's). */
  othersDuring?: number;
  load1: number;
}

/** Token arrival times (ms) of one request. */
type Arrivals = number[];

function summarize(side: string, n: number, start: number, arrivals: Arrivals[], load: Load, extra?: Record<string, unknown>): Measurement {
  for (const a of arrivals) if (a.length !== GEN) throw new Error(`${side}: a request produced ${a.length} tokens, expected ${GEN}`);
  const t0 = Math.max(...arrivals.map((a) => a[0]!));
  const t1 = Math.min(...arrivals.map((a) => a[a.length - 1]!));
  const end = Math.max(...arrivals.map((a) => a[a.length - 1]!));
  let count = 0;
  for (const a of arrivals) for (const t of a) if (t > t0 && t <= t1) count++;
  return {
    side,
    n,
    decodeTps: t1 > t0 ? (count * 1000) / (t1 - t0) : NaN,
    e2eTps: (n * GEN * 1000) / (end - start),
    wallS: (end - start) / 1000,
    load,
    extra,
  };
}

const load1 = (): number => loadavg()[0]!;

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** CPU cores kept busy by everything on the machine over `ms` (we are idle while this runs). */
async function busyCores(ms = 1500): Promise<number> {
  try {
    const a = cpuTimes();
    await sleep(ms);
    const b = cpuTimes();
    return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * availableParallelism();
  } catch {
    return NaN; // not Linux
  }
}

const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU time (ms) of this process, its threads and its reaped children, plus `pid`'s when given. */
function ownCpuMs(pid?: number): number {
  const fields = (path: string) =>
    readFileSync(path, "utf8")
      .replace(/^.*\) /s, "")
      .split(" ")
      .map(Number);
  const f = fields("/proc/self/stat"); // after "(comm) ": state=0 … utime=11 stime=12 cutime=13 cstime=14
  let ticks = f[11]! + f[12]! + f[13]! + f[14]!;
  if (pid !== undefined) {
    const c = fields(`/proc/${pid}/stat`);
    ticks += c[11]! + c[12]!;
  }
  return ticks * TICK_MS;
}

/** Measures what other processes use while a measurement runs. */
class OthersMeter {
  #busy = 0;
  #own = 0;
  #t = 0;
  constructor(private readonly pid?: number) {}
  start(): this {
    try {
      this.#busy = cpuTimes().busy * TICK_MS;
      this.#own = ownCpuMs(this.pid);
      this.#t = performance.now();
    } catch {
      this.#t = NaN;
    }
    return this;
  }
  /** Cores used by others since `start` (call while `pid`, if any, is still alive). */
  stop(): number {
    try {
      const others = cpuTimes().busy * TICK_MS - this.#busy - (ownCpuMs(this.pid) - this.#own);
      return +Math.max(0, others / (performance.now() - this.#t)).toFixed(2);
    } catch {
      return NaN;
    }
  }
}

/**
 * Waits until other processes keep fewer than --max-busy cores busy (sampled from /proc/stat while we
 * are idle: the load average lags by a minute and counts our previous run). Returns what it saw.
 */
async function waitForQuiet(what: string): Promise<Load> {
  const deadline = Date.now() + WAIT_S * 1000;
  let busy = await busyCores();
  let said = false;
  while (busy > MAX_BUSY && Date.now() < deadline) {
    if (!said) console.error(`  [other jobs keep ${busy.toFixed(2)} cores busy (> ${MAX_BUSY}): waiting up to ${WAIT_S}s before ${what}]`);
    said = true;
    await sleep(3000);
    busy = await busyCores();
  }
  if (busy > MAX_BUSY) console.error(`  [still ${busy.toFixed(2)} busy cores: measuring ${what} anyway; its numbers are suspect]`);
  return { busyBefore: +busy.toFixed(2), load1: +load1().toFixed(2) };
}

// ---------------------------------------------------------------------------------------------------
// Prompts: distinct, exactly PROMPT tokens, identical for herd and llama-server

const WORDS = (
  "time person year way day thing man world life hand part child eye woman place work week case point government " +
  "company number group problem fact river stone garden music paper window light table market"
).split(" ");

/**
 * Token ids of plain ASCII words, each biased by +BIAS on both sides: random weights otherwise emit
 * byte tokens that form invalid UTF-8, which llama-server neither streams (it holds back incomplete
 * characters, so their tokens never show up) nor accepts at the end (HTTP 500, llama-cpp-build.md F2).
 * A few dozen biased logits cost nothing measurable on either side.
 */
const ASCII_BIAS = 50;
let asciiTokenIds: number[] = [];

async function findAsciiTokens(client: EngineClient): Promise<number[]> {
  const ids = new Set<number>();
  for (const w of WORDS) {
    const t = await client.tokenize(` ${w}`, { addSpecial: false });
    if (t.length === 1) ids.add(t[0]!);
  }
  if (ids.size < 8) throw new Error("could not find single-token ASCII words for the logit bias");
  return [...ids];
}

async function makePrompts(client: EngineClient, count: number): Promise<number[][]> {
  const prompts: number[][] = [];
  for (let i = 0; i < count; i++) {
    let x = 0x9e3779b9 ^ (i * 7919);
    const words: string[] = [`Request ${i}:`];
    for (let w = 0; w < PROMPT * 2; w++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      words.push(WORDS[x % WORDS.length]!);
    }
    const ids = await client.tokenize(words.join(" "), { addSpecial: true });
    if (ids.length < PROMPT) throw new Error("prompt text too short");
    prompts.push(ids.slice(0, PROMPT));
  }
  return prompts;
}

// ---------------------------------------------------------------------------------------------------
// herd

interface HerdProfile {
  steps: number;
  batchTokens: number;
  executeMs: number;
  decodeMs: number;
  sampleMs: number;
  samples: number;
  firstExecute: number;
  lastExecuteEnd: number;
}

const emptyProfile = (): HerdProfile => ({
  steps: 0,
  batchTokens: 0,
  executeMs: 0,
  decodeMs: 0,
  sampleMs: 0,
  samples: 0,
  firstExecute: 0,
  lastExecuteEnd: 0,
});
const profile = emptyProfile();
const resetProfile = () => Object.assign(profile, emptyProfile());

/** Times llama_decode, runner.execute and Sampler.sample without touching src/engine (in-process only). */
function instrument(client: InProcessClient): void {
  const b = getBindings("cpu");
  // The runner calls llama_decode on its own thread (`decode`) or on koffi's worker (`decodeAsync`).
  const decode = b.decode;
  b.decode = (c, batch) => {
    const t = performance.now();
    try {
      return decode(c, batch);
    } finally {
      profile.decodeMs += performance.now() - t;
    }
  };
  const decodeAsync = b.decodeAsync;
  b.decodeAsync = async (c, batch) => {
    const t = performance.now();
    try {
      return await decodeAsync(c, batch);
    } finally {
      profile.decodeMs += performance.now() - t;
    }
  };
  const runner = client.runner;
  const execute = runner.execute.bind(runner);
  runner.execute = async (items, ops) => {
    const t = performance.now();
    if (profile.steps === 0) profile.firstExecute = t;
    try {
      return await execute(items, ops);
    } finally {
      const e = performance.now();
      profile.executeMs += e - t;
      profile.lastExecuteEnd = e;
      profile.steps++;
      for (const it of items) profile.batchTokens += it.tokens.length;
    }
  };
  const sample = Sampler.prototype.sample;
  Sampler.prototype.sample = function (this: Sampler, logits: Float32Array) {
    const t = performance.now();
    try {
      return sample.call(this, logits);
    } finally {
      profile.sampleMs += performance.now() - t;
      profile.samples++;
    }
  };
}

function herdConfig(model: string): EngineConfig {
  return {
    ...defaultEngineConfig(model),
    threads: THREADS,
    maxNumSeqs: Math.max(32, MAX_N),
    maxNumBatchedTokens: BATCH,
    kvCacheTokens: KV,
    maxModelLen: Math.min(KV, Math.max(1024, PROMPT + GEN)),
    enablePrefixCaching: args["prefix-caching"],
    ...(args["decode-thread"] === "engine-default" ? {} : { syncDecode: args["decode-thread"] === "caller" }),
  };
}

let requestCounter = 0;
function request(prompt: number[], maxTokens: number): EngineRequest {
  return {
    requestId: `bench-${++requestCounter}`,
    promptTokenIds: prompt,
    sampling: {
      ...defaultSamplingParams(),
      temperature: 0,
      ignoreEos: true,
      maxTokens,
      logitBias: Object.fromEntries(asciiTokenIds.map((id) => [id, ASCII_BIAS])),
    },
  };
}

async function runHerdOnce(client: EngineClient, prompts: number[][], n: number): Promise<Measurement> {
  const load = await waitForQuiet(`herd N=${n}`);
  resetProfile();
  // Under --client process the engine's own child process is not another job.
  const meter = new OthersMeter(client instanceof ProcessClient ? client.pid : undefined).start();
  const start = performance.now();
  const arrivals = await Promise.all(
    prompts.slice(0, n).map(async (p) => {
      const a: Arrivals = [];
      for await (const out of client.generate(request(p, GEN))) {
        const t = performance.now();
        for (const d of out.deltas) for (let k = 0; k < d.tokenIds.length; k++) a.push(t);
      }
      return a;
    }),
  );
  load.othersDuring = meter.stop();
  const m = summarize("herd", n, start, arrivals, load);
  if (profile.steps > 0) {
    const span = profile.lastExecuteEnd - profile.firstExecute;
    m.extra = {
      steps: profile.steps,
      avgBatchTokens: +(profile.batchTokens / profile.steps).toFixed(1),
      msPerStep: +(span / profile.steps).toFixed(2),
      decodeMsPerStep: +(profile.decodeMs / profile.steps).toFixed(2),
      executeOverheadMsPerStep: +((profile.executeMs - profile.decodeMs) / profile.steps).toFixed(3),
      sampleMsPerStep: +(profile.sampleMs / profile.steps).toFixed(3),
      sampleMsPerToken: +(profile.sampleMs / Math.max(1, profile.samples)).toFixed(3),
      otherJsMsPerStep: +((span - profile.executeMs - profile.sampleMs) / profile.steps).toFixed(3),
    };
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------
// llama.cpp peers

function peerBin(name: string): string {
  const p = join(args["peer-bin"], name);
  if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/build-llama-peer.sh (or pass --peer none)`);
  return p;
}

function run(cmd: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

const commonPeerFlags = (model: string) => llamaPeerFlags({ model, kvTokens: KV, batchTokens: BATCH, threads: THREADS });

let peerBackend = "";
function noteBackend(log: string): void {
  const m = /libggml-cpu-[\w-]+\.so/.exec(log);
  if (m) peerBackend = m[0];
}

async function runBatchedBench(model: string, n: number): Promise<Measurement> {
  const load = await waitForQuiet(`llama-batched-bench N=${n}`);
  const argv = [...commonPeerFlags(model), "-npp", String(PROMPT), "-ntg", String(GEN), "-npl", String(n), "--output-format", "jsonl"];
  const meter = new OthersMeter().start();
  const r = await run(peerBin("llama-batched-bench"), argv);
  load.othersDuring = meter.stop(); // over the whole run (model load included): our child is reaped by now
  noteBackend(r.stderr + r.stdout);
  const line = (r.stdout + "\n" + r.stderr).split("\n").find((l) => l.startsWith("{") && l.includes('"speed_tg"'));
  if (r.code !== 0 || !line) throw new Error(`llama-batched-bench failed (${r.code}):\n${r.stderr.slice(-2000)}`);
  const j = JSON.parse(line) as { t_pp: number; t_tg: number; speed_tg: number; speed_pp: number };
  return {
    side: "llama-batched-bench",
    n,
    decodeTps: j.speed_tg,
    e2eTps: (n * GEN) / (j.t_pp + j.t_tg),
    wallS: j.t_pp + j.t_tg,
    load,
    extra: { t_pp: j.t_pp, t_tg: j.t_tg, speed_pp: j.speed_pp, cmd: `llama-batched-bench ${argv.join(" ")}` },
  };
}

async function startServer(model: string, n: number, port: number): Promise<{ child: ChildProcess; log: () => string; argv: string[] }> {
  const argv = [
    ...commonPeerFlags(model),
    "-np",
    String(n),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--no-webui",
    "--fit",
    "off",
    "--no-cache-prompt",
    "-cram",
    "0",
  ];
  const child = spawn(peerBin("llama-server"), argv, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20000)));
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20000)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}):\n${log.slice(-2000)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`llama-server did not become healthy:\n${log.slice(-2000)}`);
    }
    await sleep(200);
  }
  noteBackend(log);
  try {
    noteBackend(readFileSync(`/proc/${child.pid}/maps`, "utf8"));
  } catch {
    /* not Linux */
  }
  return { child, log: () => log, argv };
}

/** One streaming /completion; returns the arrival time of every generated token. */
async function serverComplete(port: number, prompt: number[], nPredict: number): Promise<Arrivals> {
  const res = await fetch(`http://127.0.0.1:${port}/completion`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      prompt,
      n_predict: nPredict,
      ignore_eos: true,
      temperature: 0,
      samplers: ["top_k"],
      top_k: 1,
      logit_bias: asciiTokenIds.map((id) => [id, ASCII_BIAS]),
      stream: true,
      cache_prompt: false,
      return_tokens: true,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`llama-server /completion: HTTP ${res.status} ${await res.text()}`);
  const arrivals: Arrivals = [];
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const t = performance.now();
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith("data: ")) continue;
      const body = line.slice(6);
      if (body === "[DONE]") continue;
      const j = JSON.parse(body) as { tokens?: number[]; stop?: boolean; error?: unknown };
      if (j.error) throw new Error(`llama-server: ${JSON.stringify(j.error)}`);
      if (!j.stop) for (let k = 0; k < (j.tokens?.length ?? 0); k++) arrivals.push(t);
    }
  }
  return arrivals;
}

let nextPort = 18200 + (process.pid % 500);

/** Starts `llama-server --parallel n`, warms it up, measures n concurrent requests, stops it. */
async function runServer(model: string, prompts: number[][], n: number): Promise<Measurement> {
  const port = nextPort++;
  const srv = await startServer(model, n, port);
  try {
    await serverComplete(port, prompts[0]!.slice(0, 16), 8); // warm-up
    const load = await waitForQuiet(`llama-server N=${n}`);
    const meter = new OthersMeter(srv.child.pid).start();
    const start = performance.now();
    const arrivals = await Promise.all(prompts.slice(0, n).map((p) => serverComplete(port, p, GEN)));
    load.othersDuring = meter.stop();
    return summarize("llama-server", n, start, arrivals, load, { cmd: `llama-server ${srv.argv.join(" ")}` });
  } finally {
    srv.child.kill("SIGTERM");
    await new Promise((r) => (srv.child.exitCode !== null ? r(null) : srv.child.once("exit", r)));
  }
}

// ---------------------------------------------------------------------------------------------------

function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) return m[1]!.trim();
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? "unknown";
}

/** Which libggml-cpu-<variant>.so this process mapped (the kernels herd runs). */
function herdBackend(): string {
  try {
    const m = /libggml-cpu-[\w-]+\.so/.exec(readFileSync("/proc/self/maps", "utf8"));
    return m ? m[0] : "unknown";
  } catch {
    return "unknown";
  }
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "–");

const median = (xs: number[]): number => {
  const ys = [...xs].sort((p, q) => p - q);
  return ys.length === 0 ? NaN : ys.length % 2 ? ys[(ys.length - 1) / 2]! : (ys[ys.length / 2 - 1]! + ys[ys.length / 2]!) / 2;
};
const range = (xs: number[]) => (xs.length > 1 ? ` (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : "");

/**
 * The results table. Sides ran interleaved, so the i-th herd and the i-th peer measurement of one N
 * come from the same round: ratios are paired per round (the machine's speed drifts between rounds
 * by more than the differences being measured), and the table shows their median and range.
 */
function printReport(levels: number[], results: Measurement[]): void {
  const peers = ["llama-batched-bench", "llama-server"].filter((s) => results.some((m) => m.side === s));
  const of = (side: string, n: number) => results.filter((r) => r.side === side && r.n === n);
  console.log("\ntok/s: median (range) of the repeats; herd/peer: median (range) of the per-round ratios");
  console.log(
    "\n| N | metric | herd | " +
      peers.map((p) => `${p} | herd/${p.replace("llama-", "")}`).join(" | ") +
      " | target | other jobs' cores during (herd/peers) |",
  );
  console.log("|---|---|---|" + peers.map(() => "---|---").join("|") + "|---|---|");
  for (const n of levels) {
    const herd = of("herd", n);
    if (herd.length === 0) continue;
    for (const metric of ["decodeTps", "e2eTps"] as const) {
      const cell = (ms: Measurement[]) => `${fmt(median(ms.map((m) => m[metric])))}${range(ms.map((m) => m[metric]))}`;
      const cells = peers.map((p) => {
        const peer = of(p, n);
        const ratios = peer.slice(0, herd.length).map((m, i) => herd[i]![metric] / m[metric]);
        return peer.length
          ? `${cell(peer)} | **${fmt(median(ratios), 3)}×**` +
              `${ratios.length > 1 ? ` (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})` : ""}`
          : "– | –";
      });
      const target = metric === "decodeTps" ? (n === 1 ? "≥ 0.98×" : "≥ 1.0×") : "";
      const others = [herd, ...peers.map((p) => of(p, n))]
        .map((ms) => fmt(Math.max(...ms.map((m) => m.load.othersDuring ?? NaN)), 2))
        .join("/");
      console.log(
        `| ${n} | ${metric === "decodeTps" ? "decode" : "e2e"} | ${cell(herd)} | ${cells.join(" | ")} | ${target} | ≤ ${others} |`,
      );
    }
  }
  console.log("\nherd step profile (median repeat; per engine step; decode = llama_decode incl. the koffi worker hop):");
  for (const n of levels) {
    const herd = of("herd", n).sort((p, q) => p.decodeTps - q.decodeTps);
    const e = herd[Math.floor((herd.length - 1) / 2)]?.extra;
    if (e) console.log(`  N=${n}: ${JSON.stringify(e)}`);
  }
}

async function main(): Promise<void> {
  if (args.report) {
    const saved = JSON.parse(readFileSync(args.report, "utf8")) as {
      date: string;
      cpu: string;
      threads: number;
      model: string;
      modelBytes: number;
      params: number;
      results: Measurement[];
    };
    console.log(
      `${saved.date}, ${saved.cpu}, threads ${saved.threads}, ${saved.model} ` +
        `(${(saved.params / 1e9).toFixed(3)}B params, ${(saved.modelBytes / 2 ** 20).toFixed(0)} MiB)`,
    );
    printReport([...new Set(saved.results.map((m) => m.n))], saved.results);
    return;
  }
  const date = new Date();
  const model = args.model
    ? resolve(args.model)
    : await (async () => {
        console.error("preparing the bench-preset random Llama 4 (Q8_0; generated once, then cached)…");
        const t = performance.now();
        const p = await ensureEmbeddedModel({ preset: "bench", quant: "Q8_0" });
        const s = (performance.now() - t) / 1000;
        if (s > 1) console.error(`  ready in ${s.toFixed(1)}s`);
        return p;
      })();
  const sizeBytes = statSync(model).size;

  const config = herdConfig(model);
  const inProcess = args.client !== "process";
  const client: EngineClient = inProcess ? await InProcessClient.create(config) : await ProcessClient.create(config);
  if (inProcess) instrument(client as InProcessClient);
  const info = client.modelInfo;
  const prompts = await makePrompts(client, MAX_N);
  asciiTokenIds = await findAsciiTokens(client);
  const header = {
    date: date.toISOString(),
    cpu: cpuModel(),
    cores: availableParallelism(),
    threads: THREADS,
    model,
    modelName: info.description,
    modelBytes: sizeBytes,
    params: info.numParams,
    vocab: info.vocabSize,
    promptTokens: PROMPT,
    genTokens: GEN,
    kvCells: KV,
    batchTokens: BATCH,
    client: args.client,
    decodeThread: args["decode-thread"],
    prefixCaching: args["prefix-caching"],
    node: process.version,
    loadAtStart: loadavg(),
  };
  console.log(`herd engine benchmark — ${header.date}`);
  console.log(
    `cpu: ${header.cpu} (${header.cores} cores), threads ${THREADS}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `model: ${model}\n  ${info.description}, ` +
      `${(info.numParams / 1e9).toFixed(3)}B params, ${(sizeBytes / 2 ** 20).toFixed(0)} MiB, vocab ${info.vocabSize}`,
  );
  console.log(`workload: N × (${PROMPT} prompt + ${GEN} generated) tokens, greedy, ignore_eos; KV ${KV} cells (unified), batch ${BATCH}`);

  const results: Measurement[] = [];
  const report = (m: Measurement) => {
    results.push(m);
    console.error(
      `  ${m.side} N=${m.n}: decode ${fmt(m.decodeTps)} tok/s, e2e ${fmt(m.e2eTps)} tok/s ` +
        `(other jobs: ${m.load.busyBefore} cores before, ${m.load.othersDuring} during; load ${m.load.load1})`,
    );
  };
  // herd: warm up (the first decodes allocate compute buffers).
  for await (const _ of client.generate(request(prompts[0]!.slice(0, 16), 8))) void _;
  const backend = inProcess ? herdBackend() : "child process";
  /** Runs a measurement again (up to --retries times) when other jobs used more than --max-busy cores during it. */
  const measure = async (fn: () => Promise<Measurement>) => {
    for (let attempt = 0; ; attempt++) {
      const m = await fn();
      const disturbed = (m.load.othersDuring ?? 0) > MAX_BUSY;
      if (disturbed && attempt < RETRIES) {
        console.error(`  [${m.side} N=${m.n} disturbed: other jobs used ${m.load.othersDuring} cores during it; measuring again]`);
        continue;
      }
      report(m);
      return;
    }
  };
  // Interleaved (herd, batched-bench, server for each N and repeat): background load hits all sides alike.
  for (const n of LEVELS) {
    for (let r = 0; r < REPEAT; r++) {
      await measure(() => runHerdOnce(client, prompts, n));
      if (PEERS.has("batched-bench")) await measure(() => runBatchedBench(model, n));
      if (PEERS.has("server")) await measure(() => runServer(model, prompts, n));
    }
  }
  await client.close();

  console.log(
    `\nkernels: herd ${backend}; peers ${peerBackend || "–"}` +
      (existsSync(join(args["peer-bin"], "../build-info.txt"))
        ? `\npeer build: ${readFileSync(join(args["peer-bin"], "../build-info.txt"), "utf8").split("\n")[0]}`
        : ""),
  );
  printReport(LEVELS, results);

  const out = args.out ?? join(ROOT, ".cache/bench", `engine-${date.toISOString().replace(/[:]/g, "-").replace(/\..*/, "")}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    JSON.stringify(
      { ...header, loadAtEnd: loadavg(), herdBackend: backend, peerBackend, asciiBiasTokenIds: asciiTokenIds, results },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nresults: ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
