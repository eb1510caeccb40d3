/**
 * Chaos and soak run ("Reliability: no request can crash or stall herd"): many concurrent streams
 * for a long time, a mix of normal and hostile requests, optional engine kills, and a SIGTERM drain
 * at the end; every request is classified, and the run fails on anything unexpected.
 *
 *   npx tsx bench/soak.ts [--concurrency 64] [--duration 600] [--warmup 60] [--kill-engine-every K]
 *     [--model X.gguf] [--serve-args "..."] [--base-url URL] [--no-hostile-runs] [--out result.json]
 *
 * Starts its own `herd serve` (the embedded random-weight Llama 4 unless `--model`; a free port on
 * 127.0.0.1) or drives `--base-url` (then no chaos and no SIGTERM). N workers each send one request
 * after another until `--duration` ends, each request drawn from a mix (`--mix`):
 * - normal: chat streaming and not, completions streaming; small `max_tokens` (8–48);
 * - hostile: a user message of one long run of one character class (letters, digits, spaces,
 *   newlines, punctuation, CJK, emoji; `--run-length` characters; these used to crash the server
 *   through llama.cpp's pre-tokenizer regex; `--no-hostile-runs` leaves them out), a body over the
 *   body limit (413), invalid UTF-8 (400), malformed JSON (400), a prompt longer than the context (400);
 * - client disconnects after the first streamed chunk, and requests cancelled right after sending.
 * With `--kill-engine-every K` the engine child process is SIGKILLed every K seconds; requests that
 * overlap the outage may end with `engine_dead` (500 or a stream error event) or get 503
 * `engine_restarting`; recovery is timed from the kill to `/ready` 200.
 * Every few seconds it samples `/health` latency (the event loop's responsiveness), the API and engine
 * processes' RSS (/proc/PID/status) and `/metrics` (KV usage, running, waiting, restarts). After the
 * load: an idle wait, then KV usage and running/waiting must be back to the cached share; then (own
 * server) a batch of streams is started, SIGTERM is sent while they run, and the streams must finish
 * normally, new requests must get 503 or a refused connection, and the process must exit 0 within
 * `--shutdown-timeout`.
 * Reports: a table on stdout and `--out FILE.json`; exit code 1 on any unexpected or lost request,
 * a failed check, or RSS growth ≥ `--max-rss-growth` % after warm-up (only when duration ≥ 300 s).
 * See docs/soak.md.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import { dirname, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { WORDS } from "../src/bench/datasets/words.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export const KINDS = [
  "chat_stream",
  "chat",
  "completion_stream",
  "disconnect_mid_stream",
  "cancel_early",
  "run_letters",
  "run_digits",
  "run_spaces",
  "run_newlines",
  "run_punct",
  "run_cjk",
  "run_emoji",
  "oversize_body",
  "invalid_utf8",
  "malformed_json",
  "over_context",
] as const;
export type Kind = (typeof KINDS)[number];
const RUN_KINDS: readonly Kind[] = ["run_letters", "run_digits", "run_spaces", "run_newlines", "run_punct", "run_cjk", "run_emoji"];
const HOSTILE_KINDS: readonly Kind[] = [...RUN_KINDS, "oversize_body", "invalid_utf8", "malformed_json", "over_context"];
/** Requests whose ttft/itl are measured. */
const NORMAL_STREAM_KINDS: readonly Kind[] = ["chat_stream", "completion_stream"];

/** Default mix: relative weights (about a quarter hostile, a sixth client aborts). */
export const DEFAULT_MIX: Record<Kind, number> = {
  chat_stream: 30,
  chat: 12,
  completion_stream: 10,
  disconnect_mid_stream: 8,
  cancel_early: 6,
  run_letters: 1,
  run_digits: 1,
  run_spaces: 1,
  run_newlines: 1,
  run_punct: 1,
  run_cjk: 1,
  run_emoji: 1,
  oversize_body: 1,
  invalid_utf8: 3,
  malformed_json: 3,
  over_context: 2,
};

export interface SoakOptions {
  /** GGUF (or anything `herd serve --model` takes); default: the embedded model. */
  model?: string;
  /** Drive a running server instead of starting one (no chaos, no SIGTERM). */
  baseUrl?: string;
  /** With `baseUrl`: the server's PID, for RSS (its engine is found as its child). */
  serverPid?: number;
  /** Extra `herd serve` arguments. */
  serveArgs: string[];
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** SIGKILL the engine every K seconds (0: never). */
  killEngineEveryS: number;
  /** Passed to `herd serve --shutdown-timeout`; the drain must finish before it. */
  shutdownTimeoutS: number;
  /** Hostile inputs at all. */
  hostile: boolean;
  /** The long single-class runs among them. */
  hostileRuns: boolean;
  runLength: number;
  minTokens: number;
  maxTokens: number;
  requestTimeoutS: number;
  healthIntervalS: number;
  sampleIntervalS: number;
  idleWaitS: number;
  drainCheck: boolean;
  drainStreams: number;
  maxRssGrowthPct: number;
  /** RSS growth is checked only for runs at least this long. */
  rssCheckMinDurationS: number;
  readyTimeoutS: number;
  progressIntervalS: number;
  mix: Record<Kind, number>;
  seed: number;
  out?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export function defaultSoakOptions(): SoakOptions {
  return {
    serveArgs: [],
    concurrency: 64,
    durationS: 600,
    warmupS: 60,
    killEngineEveryS: 0,
    shutdownTimeoutS: 30,
    hostile: true,
    hostileRuns: true,
    runLength: 20_000,
    minTokens: 8,
    maxTokens: 48,
    requestTimeoutS: 120,
    healthIntervalS: 1,
    sampleIntervalS: 5,
    idleWaitS: 5,
    drainCheck: true,
    drainStreams: 16,
    maxRssGrowthPct: 5,
    rssCheckMinDurationS: 300,
    readyTimeoutS: 300,
    progressIntervalS: 10,
    mix: { ...DEFAULT_MIX },
    seed: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export type Outcome =
  | "ok"
  | "expected_4xx"
  | "client_aborted"
  | "engine_dead"
  | "engine_restarting"
  | "shutting_down"
  | "http_error"
  | "error_event"
  | "unexpected_200"
  | "bad_response"
  | "truncated"
  | "connection_error"
  | "timeout";

export interface Stats {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface RequestRecord {
  id: string;
  kind: Kind;
  outcome: Outcome;
  expected: boolean;
  lost: boolean;
  /** Seconds since the load started. */
  startS: number;
  endS: number;
  status?: number;
  /** Error code (HTTP error body, stream error event, or connection error). */
  code?: string;
  detail?: string;
}

export interface Sample {
  t: number;
  kvUsage: number | null;
  running: number | null;
  waiting: number | null;
  restarts: number | null;
  apiRssMiB: number | null;
  enginePid: number | null;
  engineRssMiB: number | null;
}

export interface EngineKill {
  atS: number;
  pid: number;
  newPid: number | null;
  recoveryMs: number | null;
}

export interface SoakResult {
  tool: "herd soak";
  date: string;
  options: Omit<SoakOptions, "log">;
  target: { url: string; startedServer: boolean; serverPid: number | null; model: string; maxModelLen: number | null };
  ok: boolean;
  failures: string[];
  loadSeconds: number;
  requests: {
    total: number;
    expected: number;
    unexpected: number;
    lost: number;
    byOutcome: Record<string, number>;
    byKind: Record<string, Record<string, number>>;
    /** Per error type: `HTTP 503 engine_restarting`, `event engine_dead`, `conn ECONNRESET`, … */
    errorsByType: Record<string, number>;
    /** The first unexpected ones, in full. */
    unexpectedSamples: RequestRecord[];
    throughputPerS: number;
  };
  latency: { ttftMs: Stats; itlMs: Stats };
  health: {
    samples: number;
    failures: number;
    latencyMs: Stats;
    /** The 10 slowest probes, with the kinds of the soak's requests in flight at that moment (to find a culprit). */
    slowest: Array<{ atS: number; ms: number; inFlight: Record<string, number> }>;
  };
  clientEventLoopDelayMs: Stats;
  rss: {
    checked: boolean;
    api: { startMiB: number | null; endMiB: number | null; idleMiB: number | null; peakMiB: number | null; growthPct: number | null };
    engine: {
      checked: boolean;
      startMiB: number | null;
      endMiB: number | null;
      growthPct: number | null;
      incarnations: Array<{ pid: number; firstMiB: number | null; lastMiB: number | null; peakMiB: number | null; samples: number }>;
    };
  };
  kv: {
    maxUsage: number | null;
    idle: { kvUsage: number | null; running: number | null; waiting: number | null; cachedShare: number | null };
    check: string;
  };
  chaos: {
    killsDone: number;
    recoveries: number;
    recoveryMs: Stats;
    kills: EngineKill[];
    restartsMetric: number | null;
    unexplainedEngineRestarts: number;
  };
  drain: {
    done: boolean;
    streams: number;
    completed: number;
    finishReasons: Record<string, number>;
    probes: Array<{ afterMs: number; result: string }>;
    exitCode: number | null;
    exitSignal: string | null;
    exitMs: number | null;
    /** Time to the first chunk of the drain streams (started together on the idle server). */
    ttftMs: Stats;
    problems: string[];
  } | null;
  server: {
    exitedUnexpectedly: { code: number | null; signal: string | null; atS: number } | null;
    errorLogs: Record<string, number>;
    logTail: string | null;
  };
  samples: Sample[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** mulberry32 */
function rngFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.length ? (s[s.length - 1] as number) : null };
}

function median(xs: number[]): number | null {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

function inc(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/** VmRSS of a process in MiB, or null when it is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const s of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/)) if (s) out.push(Number(s));
      } catch {
        /* the thread ended */
      }
    }
  } catch {
    /* the process is gone */
  }
  return out;
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

/** The engine process of a `herd serve` process: its (live) child running engine-process, else its only child. */
export function enginePid(serverPid: number): number | null {
  const kids = childPids(serverPid).filter((p) => !isZombie(p));
  for (const p of kids) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-process")) return p;
    } catch {
      /* gone */
    }
  }
  return kids.length === 1 ? (kids[0] as number) : null;
}

/** The value of one metric series in Prometheus text (first match), or null. */
function metricValue(text: string, name: string): number | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) return Number(m[2]);
  }
  return null;
}

/** Some shapes of a fetch failure → a short code (ECONNRESET, ECONNREFUSED, UND_ERR_SOCKET, …). */
function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.code ?? e?.cause?.name ?? e?.name ?? String(err);
}

function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits);
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

interface ServerUnderTest {
  url: string;
  pid: number | null;
  proc: ChildProcess | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null;
  errorLogs: Record<string, number>;
  tail: () => string;
}

async function startServer(opts: SoakOptions, log: (s: string) => void): Promise<ServerUnderTest> {
  const argv = [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "serve",
    ...(opts.model ? [opts.model] : []),
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--shutdown-timeout",
    String(opts.shutdownTimeoutS),
    ...opts.serveArgs,
  ];
  log(`starting: herd ${argv.slice(3).join(" ")}`);
  const proc = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, HERD_LOG_LEVEL: process.env.HERD_LOG_LEVEL ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (l: string) => {
    lines.push(l);
    if (lines.length > 400) lines.splice(0, lines.length - 200);
  };
  const errorLogs: Record<string, number> = {};
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once("exit", (code, signal) => r({ code, signal })),
  );
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on("line", keep);
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`herd serve did not start listening:\n${lines.join("\n")}`)),
      opts.readyTimeoutS * 1000,
    );
    void exited.then(({ code, signal }) =>
      reject(new Error(`herd serve exited (${signal ?? code}) before listening:\n${lines.slice(-50).join("\n")}`)),
    );
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      keep(line);
      if (!line.startsWith("{")) return;
      try {
        const entry = JSON.parse(line) as { level?: number | string; msg?: string; port?: number };
        if (typeof entry.msg === "string" && entry.msg.startsWith("listening on") && typeof entry.port === "number") {
          clearTimeout(timer);
          resolvePort(entry.port);
        }
        const level = typeof entry.level === "number" ? entry.level : ({ error: 50, fatal: 60 }[String(entry.level)] ?? 0);
        if (level >= 50) inc(errorLogs, String(entry.msg).slice(0, 120));
      } catch {
        /* not a log line */
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + opts.readyTimeoutS * 1000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`herd serve exited before it was ready:\n${lines.slice(-50).join("\n")}`);
    try {
      if ((await fetch(`${url}/ready`)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`herd serve not ready after ${opts.readyTimeoutS} s:\n${lines.slice(-50).join("\n")}`);
    }
    await sleep(200);
  }
  log(`ready: ${url} (pid ${proc.pid})`);
  return { url, pid: proc.pid ?? null, proc, exited, errorLogs, tail: () => lines.slice(-60).join("\n") };
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface Spec {
  kind: Kind;
  path: string;
  body: string | Uint8Array;
  stream: boolean;
  /** For hostile kinds: the 4xx statuses (and codes) that are the right answer. */
  expect4xx?: { statuses: number[]; codes?: string[] };
  /** Also fine: 200 with a normal finish (long runs that fit the context). */
  allow200: boolean;
  abortAfterFirstChunk?: boolean;
  abortAfterMs?: number;
}

type Raw =
  | { type: "http_error"; status: number; code: string | null; retryAfterS: number | null }
  | {
      type: "stream";
      sawDone: boolean;
      errorCode: string | null;
      finishReasons: Array<string | null>;
      ttftMs: number | null;
      itlsMs: number[];
      bad?: string;
    }
  | { type: "json"; finishReasons: Array<string | null>; bad?: string }
  | { type: "aborted" }
  | { type: "timeout" }
  | { type: "conn_error"; code: string };

const NORMAL_FINISH = new Set(["stop", "length", "tool_calls"]);

class SseReader {
  #buf = "";
  readonly #dec = new TextDecoder();
  /** Complete `data:` payloads from a new chunk of bytes. */
  push(bytes: Uint8Array): string[] {
    this.#buf += this.#dec.decode(bytes, { stream: true });
    const out: string[] = [];
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.#buf);
      if (!m) break;
      const event = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) out.push(data);
    }
    return out;
  }
}

/** Sends one request and reads it to the end (or to the planned abort, or the timeout). */
async function execute(url: string, spec: Spec, requestId: string, timeoutMs: number): Promise<Raw> {
  const ac = new AbortController();
  let timedOut = false;
  let clientAbort = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  const abortNow = () => {
    clientAbort = true;
    ac.abort();
  };
  const t0 = performance.now();
  let early: NodeJS.Timeout | null = null;
  try {
    const pending = fetch(`${url}${spec.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": requestId },
      body: spec.body,
      signal: ac.signal,
    });
    if (spec.abortAfterMs !== undefined) early = setTimeout(abortNow, spec.abortAfterMs);
    const res = await pending;
    if (res.status !== 200) {
      const text = await res.text();
      let code: string | null = null;
      try {
        const b = JSON.parse(text) as { error?: { code?: string | null; type?: string } };
        code = b.error?.code ?? b.error?.type ?? null;
      } catch {
        code = "non_json_body";
      }
      const ra = res.headers.get("retry-after");
      return { type: "http_error", status: res.status, code, retryAfterS: ra === null ? null : Number(ra) };
    }
    if (!spec.stream) {
      const text = await res.text();
      try {
        const b = JSON.parse(text) as { choices?: Array<{ finish_reason?: string | null }> };
        if (!Array.isArray(b.choices) || b.choices.length === 0) return { type: "json", finishReasons: [], bad: "no choices" };
        return { type: "json", finishReasons: b.choices.map((c) => c.finish_reason ?? null) };
      } catch {
        return { type: "json", finishReasons: [], bad: "body is not JSON" };
      }
    }
    if (!res.body) return { type: "stream", sawDone: false, errorCode: null, finishReasons: [], ttftMs: null, itlsMs: [], bad: "no body" };
    const reader = res.body.getReader();
    const sse = new SseReader();
    const finish = new Map<number, string | null>();
    const itls: number[] = [];
    let ttft: number | null = null;
    let last = 0;
    let sawDone = false;
    let errCode: string | null = null;
    let bad: string | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const data of sse.push(value)) {
        if (data === "[DONE]") {
          sawDone = true;
          continue;
        }
        let ev: {
          error?: { code?: string | null; type?: string };
          choices?: Array<{ index?: number; delta?: { content?: string | null }; text?: string; finish_reason?: string | null }>;
        };
        try {
          ev = JSON.parse(data);
        } catch {
          bad = "an event is not JSON";
          continue;
        }
        if (ev.error) {
          errCode = ev.error.code ?? ev.error.type ?? "unknown";
          continue;
        }
        let content = false;
        for (const c of ev.choices ?? []) {
          const idx = c.index ?? 0;
          if (!finish.has(idx)) finish.set(idx, null);
          if ((c.delta?.content ?? c.text ?? "") !== "") content = true;
          if (c.finish_reason) finish.set(idx, c.finish_reason);
        }
        if (content) {
          const now = performance.now();
          if (ttft === null) ttft = now - t0;
          else itls.push(now - last);
          last = now;
          if (spec.abortAfterFirstChunk) abortNow();
        }
      }
    }
    return { type: "stream", sawDone, errorCode: errCode, finishReasons: [...finish.values()], ttftMs: ttft, itlsMs: itls, bad };
  } catch (err) {
    if (timedOut) return { type: "timeout" };
    if (clientAbort) return { type: "aborted" };
    return { type: "conn_error", code: errorCode(err) };
  } finally {
    clearTimeout(timer);
    if (early) clearTimeout(early);
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/** Runs one soak; never throws for what the server does (that is in the result), only for bad options or a server that never starts. */
export async function runSoak(input: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const opts: SoakOptions = { ...defaultSoakOptions(), ...input, mix: { ...DEFAULT_MIX, ...input.mix } };
  const tStart = performance.now();
  const sink = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const log = (s: string) => sink(`[soak +${((performance.now() - tStart) / 1000).toFixed(1)}s] ${s}`);
  if (opts.baseUrl && opts.killEngineEveryS > 0) {
    log("--base-url: chaos (--kill-engine-every) is off for a server this run did not start");
    opts.killEngineEveryS = 0;
  }
  if (opts.minTokens < 1 || opts.maxTokens < opts.minTokens) throw new Error("need 1 ≤ --min-tokens ≤ --max-tokens");
  const rng = rngFrom(opts.seed);
  const failures: string[] = [];

  // --- server
  let server: ServerUnderTest;
  if (opts.baseUrl) {
    const u = new URL(opts.baseUrl);
    if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))
      throw new Error("--base-url must be on 127.0.0.1 (the soak sends hostile traffic)");
    server = {
      url: opts.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, ""),
      pid: opts.serverPid ?? null,
      proc: null,
      exited: null,
      errorLogs: {},
      tail: () => "",
    };
  } else {
    server = await startServer(opts, log);
  }
  const url = server.url;
  let serverDied: { code: number | null; signal: string | null; atS: number } | null = null;
  let sigtermSent = false;

  const tokenize = (await (
    await fetch(`${url}/tokenize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "hello" }),
    })
  ).json()) as {
    max_model_len?: number;
  };
  const maxModelLen = tokenize.max_model_len ?? null;
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data?: Array<{ id: string }> };
  const modelName = models.data?.[0]?.id ?? "default";
  const bodyLimit = (() => {
    const i = opts.serveArgs.indexOf("--max-request-body-bytes");
    return i >= 0 ? Number(opts.serveArgs[i + 1]) : 8 * 1024 * 1024;
  })();
  const prefixCachingOff = opts.serveArgs.includes("--no-enable-prefix-caching");

  // --- request bodies
  const L = opts.runLength;
  const cycle = (chars: string) => {
    const cs = [...chars];
    return Array.from({ length: L }, (_, i) => cs[i % cs.length]).join("");
  };
  const runs: Record<string, string> = {
    run_letters: "x".repeat(L),
    run_digits: cycle("0123456789"),
    run_spaces: " ".repeat(L),
    run_newlines: "\n".repeat(L),
    run_punct: cycle("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    run_cjk: "漢".repeat(L),
    run_emoji: "😀".repeat(L),
  };
  const oversize = Buffer.concat([
    Buffer.from(`{"model":"${modelName}","max_tokens":8,"messages":[{"role":"user","content":"`),
    Buffer.alloc(bodyLimit + 1024, 0x61),
    Buffer.from('"}]}'),
  ]);
  const overContext = " hello".repeat((maxModelLen ?? 8192) + 256);
  const systemPrompt = Array.from({ length: 48 }, (_, i) => WORDS[(i * 7) % WORDS.length]).join(" ");
  const words = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rng() * WORDS.length)]).join(" ");
  const maxTokens = () => opts.minTokens + Math.floor(rng() * (opts.maxTokens - opts.minTokens + 1));
  const chatBody = (content: string, extra: Record<string, unknown> = {}) => {
    const messages =
      rng() < 0.5
        ? [
            { role: "system", content: systemPrompt },
            { role: "user", content },
          ]
        : [{ role: "user", content }];
    return JSON.stringify({ model: modelName, messages, max_tokens: maxTokens(), ...extra });
  };
  const STREAM = { stream: true, stream_options: { include_usage: true } };

  const enabled = KINDS.filter(
    (k) => (opts.mix[k] ?? 0) > 0 && (opts.hostile || !HOSTILE_KINDS.includes(k)) && (opts.hostileRuns || !RUN_KINDS.includes(k)),
  );
  if (enabled.length === 0) throw new Error("the request mix is empty");
  const totalWeight = enabled.reduce((a, k) => a + opts.mix[k], 0);
  // The first requests sweep every enabled kind once (the instant 4xx ones first), so even a short
  // run sends each; after that, the weights decide.
  const sweep = [
    ...enabled.filter((k) => HOSTILE_KINDS.includes(k) && !RUN_KINDS.includes(k)),
    ...enabled.filter((k) => !HOSTILE_KINDS.includes(k) || RUN_KINDS.includes(k)),
  ];
  const pick = (): Kind => {
    const first = sweep.shift();
    if (first !== undefined) return first;
    let x = rng() * totalWeight;
    for (const k of enabled) if ((x -= opts.mix[k]) < 0) return k;
    return enabled[enabled.length - 1] as Kind;
  };

  function spec(kind: Kind): Spec {
    const ctx400 = { statuses: [400], codes: ["context_length_exceeded"] };
    switch (kind) {
      case "chat_stream":
        return {
          kind,
          path: "/v1/chat/completions",
          body: chatBody(words(8 + Math.floor(rng() * 56)), STREAM),
          stream: true,
          allow200: true,
        };
      case "chat":
        return { kind, path: "/v1/chat/completions", body: chatBody(words(8 + Math.floor(rng() * 56))), stream: false, allow200: true };
      case "completion_stream":
        return {
          kind,
          path: "/v1/completions",
          body: JSON.stringify({ model: modelName, prompt: words(8 + Math.floor(rng() * 56)), max_tokens: maxTokens(), ...STREAM }),
          stream: true,
          allow200: true,
        };
      case "disconnect_mid_stream":
        return {
          kind,
          path: "/v1/chat/completions",
          body: chatBody(words(16), { ...STREAM, max_tokens: opts.maxTokens, ignore_eos: true }),
          stream: true,
          allow200: true,
          abortAfterFirstChunk: true,
        };
      case "cancel_early":
        return {
          kind,
          path: "/v1/chat/completions",
          body: chatBody(words(16), STREAM),
          stream: true,
          allow200: true,
          abortAfterMs: Math.floor(rng() * 5),
        };
      case "oversize_body":
        return {
          kind,
          path: "/v1/chat/completions",
          body: oversize,
          stream: false,
          allow200: false,
          expect4xx: { statuses: [413], codes: ["request_too_large"] },
        };
      case "invalid_utf8":
        return {
          kind,
          path: rng() < 0.5 ? "/v1/chat/completions" : "/v1/completions",
          body: Buffer.concat([
            Buffer.from('{"messages":[{"role":"user","content":"'),
            Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed]),
            Buffer.from('"}],"prompt":"a","max_tokens":8}'),
          ]),
          stream: false,
          allow200: false,
          expect4xx: { statuses: [400], codes: ["invalid_encoding"] },
        };
      case "malformed_json":
        return {
          kind,
          path: rng() < 0.5 ? "/v1/chat/completions" : "/v1/completions",
          body: [
            '{"messages":[{"role":"user","content":"hi"}',
            "{",
            '{"prompt": "a", "max_tokens": 8,}',
            "null",
            "[1,2]",
            '{"prompt":"\\u12"}',
          ][Math.floor(rng() * 6)] as string,
          stream: false,
          allow200: false,
          expect4xx: { statuses: [400], codes: ["invalid_json"] },
        };
      case "over_context":
        return rng() < 0.5
          ? {
              kind,
              path: "/v1/chat/completions",
              body: JSON.stringify({ model: modelName, messages: [{ role: "user", content: overContext }], max_tokens: 8 }),
              stream: false,
              allow200: false,
              expect4xx: ctx400,
            }
          : {
              kind,
              path: "/v1/completions",
              body: JSON.stringify({ model: modelName, prompt: overContext, max_tokens: 8 }),
              stream: false,
              allow200: false,
              expect4xx: ctx400,
            };
      default: {
        // One long run of one character class, in a chat message or as a completion prompt.
        const content = runs[kind] as string;
        const chat = rng() < 0.75;
        const body = chat
          ? JSON.stringify({ model: modelName, messages: [{ role: "user", content }], max_tokens: opts.minTokens })
          : JSON.stringify({ model: modelName, prompt: content, max_tokens: opts.minTokens });
        return { kind, path: chat ? "/v1/chat/completions" : "/v1/completions", body, stream: false, allow200: true, expect4xx: ctx400 };
      }
    }
  }

  // --- chaos bookkeeping
  const outages: Array<{ start: number; end: number | null }> = [];
  const OUTAGE_GRACE_MS = 2000;
  const inOutage = (from: number, to: number) =>
    outages.some((o) => from <= (o.end ?? Number.POSITIVE_INFINITY) + OUTAGE_GRACE_MS && to >= o.start);

  const records: RequestRecord[] = [];
  const ttfts: number[] = [];
  const itls: number[] = [];
  const errorsByType: Record<string, number> = {};
  let seq = 0;
  let inFlight = 0;
  let t0 = performance.now();
  const sec = (t: number) => Math.round(((t - t0) / 1000) * 1000) / 1000;

  function classify(s: Spec, raw: Raw, start: number, end: number, id: string): RequestRecord {
    const base = { id, kind: s.kind, startS: sec(start), endS: sec(end) };
    const rec = (outcome: Outcome, expected: boolean, extra: Partial<RequestRecord> = {}): RequestRecord => ({
      ...base,
      outcome,
      expected,
      lost: outcome === "truncated" || outcome === "connection_error" || outcome === "timeout",
      ...extra,
    });
    switch (raw.type) {
      case "aborted":
        return rec("client_aborted", s.abortAfterFirstChunk === true || s.abortAfterMs !== undefined);
      case "timeout":
        inc(errorsByType, "timeout");
        return rec("timeout", false, { detail: `no end within ${opts.requestTimeoutS} s` });
      case "conn_error":
        inc(errorsByType, `conn ${raw.code}`);
        return rec("connection_error", false, { code: raw.code });
      case "http_error": {
        inc(errorsByType, `HTTP ${raw.status} ${raw.code ?? ""}`.trim());
        const extra = { status: raw.status, code: raw.code ?? undefined };
        if (raw.code === "engine_dead") return rec("engine_dead", inOutage(start, end), extra);
        if (raw.status === 503 && raw.code === "engine_restarting") return rec("engine_restarting", inOutage(end, end), extra);
        if (raw.status === 503 && raw.code === "shutting_down") return rec("shutting_down", sigtermSent, extra);
        const e = s.expect4xx;
        if (e?.statuses.includes(raw.status) && (!e.codes || e.codes.includes(raw.code ?? ""))) return rec("expected_4xx", true, extra);
        return rec("http_error", false, extra);
      }
      case "json":
      case "stream": {
        if (raw.type === "stream" && raw.errorCode !== null) {
          inc(errorsByType, `event ${raw.errorCode}`);
          if (raw.errorCode === "engine_dead") return rec("engine_dead", inOutage(start, end), { status: 200, code: raw.errorCode });
          return rec("error_event", false, { status: 200, code: raw.errorCode });
        }
        if (raw.type === "stream" && !raw.sawDone)
          return rec("truncated", false, { status: 200, detail: "stream ended without [DONE] or an error event" });
        if (!s.allow200) return rec("unexpected_200", false, { status: 200, detail: `expected ${s.expect4xx?.statuses.join("/")}` });
        if (raw.bad) return rec("bad_response", false, { status: 200, detail: raw.bad });
        if (raw.finishReasons.length === 0 || !raw.finishReasons.every((f) => f !== null && NORMAL_FINISH.has(f))) {
          return rec("bad_response", false, { status: 200, detail: `finish_reason ${JSON.stringify(raw.finishReasons)}` });
        }
        if (raw.type === "stream" && NORMAL_STREAM_KINDS.includes(s.kind)) {
          if (raw.ttftMs !== null) ttfts.push(raw.ttftMs);
          for (const x of raw.itlsMs) itls.push(x);
        }
        return rec("ok", true, { status: 200 });
      }
    }
  }

  async function one(s: Spec): Promise<{ rec: RequestRecord; raw: Raw }> {
    const id = `soak-${opts.seed}-${++seq}`;
    inFlight++;
    const start = performance.now();
    const raw = await execute(url, s, id, opts.requestTimeoutS * 1000);
    inFlight--;
    const rec = classify(s, raw, start, performance.now(), id);
    return { rec, raw };
  }

  // --- watch the server process
  server.exited?.then(({ code, signal }) => {
    if (!sigtermSent) {
      serverDied = { code, signal, atS: sec(performance.now()) };
      log(`herd serve EXITED during the run (${signal ?? `code ${code}`})`);
    }
  });

  // --- samplers
  const healthMs: number[] = [];
  const healthAt: Array<{ atS: number; ms: number }> = [];
  let healthFailures = 0;
  const samples: Sample[] = [];
  const kills: EngineKill[] = [];
  let unexplainedEngineRestarts = 0;
  let killedPids = new Set<number>();
  let lastEnginePid: number | null = server.pid ? enginePid(server.pid) : null;
  const LOOP_RESOLUTION_MS = 10;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loopDelay.enable();

  async function readMetrics(): Promise<Omit<Sample, "t" | "apiRssMiB" | "enginePid" | "engineRssMiB">> {
    try {
      const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      return {
        kvUsage: metricValue(text, "vllm:kv_cache_usage_perc"),
        running: metricValue(text, "vllm:num_requests_running"),
        waiting: metricValue(text, "vllm:num_requests_waiting"),
        restarts: metricValue(text, "herd:engine_restarts_total"),
      };
    } catch {
      return { kvUsage: null, running: null, waiting: null, restarts: null };
    }
  }
  /** The idle cached share of the KV cache, when the server exports one (see docs/soak.md). */
  async function readCachedShare(): Promise<number | null> {
    try {
      const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const perc = metricValue(text, "herd:kv_cache_cached_perc");
      if (perc !== null) return perc;
      const cached = metricValue(text, "herd:kv_cache_cached_cells");
      const total = metricValue(text, "herd:kv_cache_total_cells");
      return cached !== null && total ? cached / total : null;
    } catch {
      return null;
    }
  }
  async function sample(): Promise<Sample> {
    const m = await readMetrics();
    const ePid = server.pid ? enginePid(server.pid) : null;
    if (ePid !== null && lastEnginePid !== null && ePid !== lastEnginePid && !killedPids.has(lastEnginePid)) {
      unexplainedEngineRestarts++;
      log(`the engine process changed (${lastEnginePid} → ${ePid}) without a kill from this run`);
    }
    if (ePid !== null) lastEnginePid = ePid;
    const s: Sample = {
      t: sec(performance.now()),
      ...m,
      apiRssMiB: server.pid ? rssMiB(server.pid) : null,
      enginePid: ePid,
      engineRssMiB: ePid ? rssMiB(ePid) : null,
    };
    samples.push(s);
    return s;
  }

  let stopSamplers = false;
  const healthLoop = (async () => {
    while (!stopSamplers) {
      const t = performance.now();
      try {
        const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) });
        await r.arrayBuffer();
        if (r.status === 200) {
          healthMs.push(performance.now() - t);
          healthAt.push({ atS: sec(t), ms: Math.round((performance.now() - t) * 10) / 10 });
        } else healthFailures++;
      } catch {
        if (!stopSamplers) healthFailures++;
      }
      await sleep(Math.max(0, opts.healthIntervalS * 1000 - (performance.now() - t)));
    }
  })();
  const sampleLoop = (async () => {
    while (!stopSamplers) {
      const t = performance.now();
      await sample();
      await sleep(Math.max(0, opts.sampleIntervalS * 1000 - (performance.now() - t)));
    }
  })();

  // --- load
  const baseRestarts = (await readMetrics()).restarts;
  t0 = performance.now();
  const loadEnd = t0 + opts.durationS * 1000;
  const warmupEnd = t0 + Math.min(opts.warmupS, opts.durationS) * 1000;
  const stopLoad = () => performance.now() >= loadEnd || serverDied !== null;
  log(
    `load: ${opts.concurrency} workers for ${opts.durationS} s (warm-up ${opts.warmupS} s), kinds: ${enabled.join(", ")}` +
      `${opts.killEngineEveryS > 0 ? `; engine kill every ${opts.killEngineEveryS} s` : ""}`,
  );

  async function worker(): Promise<void> {
    while (!stopLoad()) {
      const s = spec(pick());
      const { rec, raw } = await one(s);
      records.push(rec);
      if (!rec.expected)
        log(
          `UNEXPECTED ${rec.kind} ${rec.outcome}${rec.status ? ` ${rec.status}` : ""}` +
            `${rec.code ? ` ${rec.code}` : ""}${rec.detail ? ` (${rec.detail})` : ""} [${rec.id}]`,
        );
      // Back off as a client would: retry-after on 503/500 engine_dead, a short pause after connection errors.
      if (raw.type === "http_error" && (raw.status === 503 || raw.status === 429 || raw.code === "engine_dead"))
        await sleep(Math.min(2, raw.retryAfterS ?? 1) * 1000);
      else if (raw.type === "stream" && raw.errorCode === "engine_dead") await sleep(1000);
      else if (raw.type === "conn_error") await sleep(200);
    }
  }

  const chaosLoop = (async () => {
    if (opts.killEngineEveryS <= 0 || server.pid === null) return;
    let next = t0 + opts.killEngineEveryS * 1000;
    for (;;) {
      await sleep(Math.max(0, next - performance.now()));
      if (stopLoad() || loadEnd - performance.now() < 10_000) return;
      const pid = enginePid(server.pid);
      if (pid === null) {
        failures.push(`chaos: no engine process found under pid ${server.pid} at ${sec(performance.now())} s`);
        return;
      }
      const kill: EngineKill = { atS: sec(performance.now()), pid, newPid: null, recoveryMs: null };
      kills.push(kill);
      killedPids = new Set([...killedPids, pid]);
      const outage = { start: performance.now(), end: null as number | null };
      outages.push(outage);
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        failures.push(`chaos: could not kill the engine (pid ${pid}): ${String(err)}`);
        return;
      }
      log(`chaos: SIGKILL engine pid ${pid} at ${kill.atS} s`);
      // Not ready until the new engine has produced its warmup token; poll /ready.
      await sleep(50);
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline && serverDied === null) {
        try {
          const r = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(5000) });
          await r.arrayBuffer();
          if (r.status === 200 && enginePid(server.pid) !== pid) break;
        } catch {
          /* retry */
        }
        await sleep(100);
      }
      outage.end = performance.now();
      const newPid = enginePid(server.pid);
      if (newPid !== null && newPid !== pid) {
        kill.newPid = newPid;
        kill.recoveryMs = Math.round(outage.end - outage.start);
        lastEnginePid = newPid;
        log(`chaos: engine back (pid ${newPid}) after ${kill.recoveryMs} ms`);
      } else if (serverDied === null) {
        failures.push(`chaos: the engine killed at ${kill.atS} s did not come back within 60 s`);
        return;
      }
      next = Math.max(next + opts.killEngineEveryS * 1000, performance.now() + 1000);
    }
  })();

  const progress = setInterval(() => {
    const done = records.length;
    const bad = records.filter((r) => !r.expected).length;
    const okN = records.filter((r) => r.outcome === "ok").length;
    const last = samples[samples.length - 1];
    const h = stats(healthMs.slice(-60));
    log(
      `${Math.round((performance.now() - t0) / 1000)}s: ${done} requests (${okN} ok, ${bad} unexpected), ` +
        `${inFlight} in flight, kills ${kills.length}, ` +
        `/health p99 ${fmt(h.p99)} ms, kv ${fmt(last?.kvUsage === null || last?.kvUsage === undefined ? null : last.kvUsage * 100)}%, ` +
        `RSS api ${fmt(last?.apiRssMiB, 0)} MiB engine ${fmt(last?.engineRssMiB, 0)} MiB`,
    );
  }, opts.progressIntervalS * 1000);

  await Promise.all(Array.from({ length: opts.concurrency }, () => worker()));
  await chaosLoop;
  clearInterval(progress);
  const loadSeconds = (performance.now() - t0) / 1000;
  const lastLoadSampleT = sec(performance.now());
  log(`load done: ${records.length} requests in ${loadSeconds.toFixed(1)} s`);

  // --- idle: KV back to the cached share, nothing running or waiting
  let idle: SoakResult["kv"]["idle"] = { kvUsage: null, running: null, waiting: null, cachedShare: null };
  let idleApiRss: number | null = null;
  if (serverDied === null) {
    await sleep(opts.idleWaitS * 1000);
    const s = await sample();
    idle = { kvUsage: s.kvUsage, running: s.running, waiting: s.waiting, cachedShare: await readCachedShare() };
    idleApiRss = s.apiRssMiB;
  }
  stopSamplers = true;
  await Promise.all([healthLoop, sampleLoop]);
  const restartsMetric = samples[samples.length - 1]?.restarts ?? null;

  // --- SIGTERM drain
  let drain: SoakResult["drain"] = null;
  if (server.proc && server.exited && serverDied === null) {
    if (opts.drainCheck) drain = await drainCheck(server.proc, server.exited);
    else {
      sigtermSent = true;
      server.proc.kill("SIGTERM");
      await Promise.race([server.exited, sleep((opts.shutdownTimeoutS + 15) * 1000)]);
    }
  }
  if (server.proc) {
    // Whatever happened above, leave nothing running that this run started: the server, and its engine
    // when the server died without taking it along (an orphan still running engine-process).
    const e = server.pid && server.proc.exitCode === null && server.proc.signalCode === null ? enginePid(server.pid) : lastEnginePid;
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
    await server.exited;
    await sleep(200);
    if (e !== null && !isZombie(e)) {
      try {
        if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes("engine-process")) process.kill(e, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
  loopDelay.disable();

  async function drainCheck(proc: ChildProcess, exited: NonNullable<ServerUnderTest["exited"]>): Promise<NonNullable<SoakResult["drain"]>> {
    const problems: string[] = [];
    const n = Math.max(1, opts.drainStreams);
    let firstChunks = 0;
    const firstMs: number[] = [];
    const finishReasons: Record<string, number> = {};
    const tStreams = performance.now();
    const streams = Array.from({ length: n }, async () => {
      const body = JSON.stringify({
        model: modelName,
        messages: [{ role: "user", content: words(16) }],
        max_tokens: opts.maxTokens,
        ignore_eos: true,
        stream: true,
      });
      // Read it here (not through execute) to know when its first chunk arrived.
      try {
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(opts.requestTimeoutS * 1000),
        });
        if (res.status !== 200 || !res.body) return `HTTP ${res.status} ${(await res.text()).slice(0, 200)}`;
        const reader = res.body.getReader();
        const sse = new SseReader();
        let first = false;
        let done = false;
        let finish: string | null = null;
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          for (const d of sse.push(r.value)) {
            if (d === "[DONE]") done = true;
            else {
              const ev = JSON.parse(d) as { error?: { code?: string }; choices?: Array<{ finish_reason?: string | null }> };
              if (ev.error) return `error event ${ev.error.code}`;
              finish = ev.choices?.[0]?.finish_reason ?? finish;
            }
            if (!first) {
              first = true;
              firstChunks++;
              firstMs.push(performance.now() - tStreams);
            }
          }
        }
        inc(finishReasons, String(finish));
        if (!done) return "stream ended without [DONE]";
        if (!finish || !NORMAL_FINISH.has(finish)) return `finish_reason ${finish}`;
        return null;
      } catch (err) {
        return `connection: ${errorCode(err)}`;
      }
    });
    const wait = performance.now() + 30_000;
    while (firstChunks < n && performance.now() < wait) await sleep(10);
    if (firstChunks < n) problems.push(`only ${firstChunks} of ${n} drain streams had started after 30 s`);
    log(`drain: SIGTERM with ${firstChunks} streams in flight (first chunks after ${fmt(stats(firstMs).max, 0)} ms)`);
    sigtermSent = true;
    const tKill = performance.now();
    proc.kill("SIGTERM");
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let exitMs: number | null = null;
    void exited.then((e) => {
      exit = e;
      exitMs = performance.now() - tKill;
    });
    const probes: Array<{ afterMs: number; result: string }> = [];
    for (const after of [50, 300, 1000]) {
      await sleep(Math.max(0, tKill + after - performance.now()));
      if (exit) break;
      const result = await probe(url, modelName);
      probes.push({ afterMs: after, result });
      if (!/^(503 shutting_down|refused: .*)$/.test(result))
        problems.push(`a new request ${after} ms after SIGTERM got ${result} (expected 503 shutting_down or a refused connection)`);
    }
    const results = await Promise.all(streams);
    const completed = results.filter((r) => r === null).length;
    for (const r of results) if (r !== null) problems.push(`an in-flight stream did not finish normally: ${r}`);
    const limit = opts.shutdownTimeoutS * 1000;
    await Promise.race([exited, sleep(limit + 15_000)]);
    const e = exit as { code: number | null; signal: NodeJS.Signals | null } | null;
    if (!e) problems.push(`the server had not exited ${Math.round((limit + 15_000) / 1000)} s after SIGTERM`);
    else {
      if (e.code !== 0) problems.push(`the server exited with ${e.signal ?? `code ${e.code}`} (expected 0)`);
      if ((exitMs ?? Number.POSITIVE_INFINITY) >= limit)
        problems.push(`the server took ${Math.round(exitMs ?? 0)} ms to exit, not less than the ${limit} ms grace period`);
    }
    log(`drain: ${completed}/${n} streams finished normally; exit ${e ? (e.signal ?? e.code) : "none"} after ${fmt(exitMs, 0)} ms`);
    return {
      done: true,
      streams: n,
      completed,
      finishReasons,
      probes,
      exitCode: e?.code ?? null,
      exitSignal: e?.signal ?? null,
      exitMs: exitMs === null ? null : Math.round(exitMs),
      ttftMs: stats(firstMs),
      problems,
    };
  }

  // --- summarize
  const byOutcome: Record<string, number> = {};
  const byKind: Record<string, Record<string, number>> = {};
  for (const r of records) {
    inc(byOutcome, r.outcome);
    byKind[r.kind] ??= {};
    inc(byKind[r.kind] as Record<string, number>, r.outcome);
  }
  const unexpected = records.filter((r) => !r.expected);
  const lost = records.filter((r) => r.lost);

  // RSS: medians of the first 3 samples after warm-up and of the last 3 under load.
  const underLoad = samples.filter((s) => s.t <= lastLoadSampleT);
  const afterWarm = underLoad.filter((s) => s.t >= sec(warmupEnd));
  const apiVals = afterWarm.map((s) => s.apiRssMiB).filter((x): x is number => x !== null);
  const apiStart = median(apiVals.slice(0, 3));
  const apiEnd = median(apiVals.slice(-3));
  const growth = (a: number | null, b: number | null) => (a !== null && b !== null && a > 0 ? ((b - a) / a) * 100 : null);
  const incarnations = new Map<number, number[]>();
  for (const s of samples)
    if (s.enginePid !== null && s.engineRssMiB !== null)
      incarnations.set(s.enginePid, [...(incarnations.get(s.enginePid) ?? []), s.engineRssMiB]);
  const engineRestarted = kills.length > 0 || unexplainedEngineRestarts > 0 || (restartsMetric ?? 0) - (baseRestarts ?? 0) > 0;
  const engVals = afterWarm.map((s) => s.engineRssMiB).filter((x): x is number => x !== null);
  const engStart = engineRestarted ? null : median(engVals.slice(0, 3));
  const engEnd = engineRestarted ? null : median(engVals.slice(-3));
  const rssChecked = opts.durationS >= opts.rssCheckMinDurationS && afterWarm.length >= 6;
  const apiGrowth = growth(apiStart, apiEnd);
  const engGrowth = growth(engStart, engEnd);

  // Checks → failures.
  if (serverDied !== null) {
    const d = serverDied as { code: number | null; signal: string | null; atS: number };
    failures.push(`herd serve exited during the run at ${d.atS} s (${d.signal ?? `code ${d.code}`})`);
  }
  if (unexpected.length > 0) {
    const counts: Record<string, number> = {};
    for (const r of unexpected) inc(counts, `${r.kind}:${r.outcome}${r.code ? `(${r.code})` : r.status ? `(${r.status})` : ""}`);
    failures.push(
      `${unexpected.length} unexpected outcomes: ${Object.entries(counts)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 10)
        .map(([k, v]) => `${k} ×${v}`)
        .join(", ")}`,
    );
  }
  if (lost.length > 0) failures.push(`${lost.length} lost requests (no response and no typed error)`);
  if ((byOutcome.ok ?? 0) === 0) failures.push("no request completed normally");
  if (healthFailures > 0) failures.push(`/health failed ${healthFailures} times`);
  const restartsDelta = restartsMetric !== null && baseRestarts !== null ? restartsMetric - baseRestarts : null;
  if (unexplainedEngineRestarts > 0 || (restartsDelta !== null && restartsDelta > kills.length)) {
    failures.push(
      `the engine restarted without a kill from this run (pid changes: ${unexplainedEngineRestarts}; ` +
        `herd:engine_restarts_total +${restartsDelta}, kills ${kills.length})`,
    );
  }
  let kvCheck = "not read (the server was gone)";
  if (idle.running !== null) {
    const problems: string[] = [];
    if (idle.running !== 0) problems.push(`${idle.running} requests still running`);
    if (idle.waiting !== 0) problems.push(`${idle.waiting} requests still waiting`);
    if (idle.kvUsage !== null && idle.cachedShare !== null && idle.kvUsage - idle.cachedShare > 1e-9) {
      problems.push(
        `KV usage ${(idle.kvUsage * 100).toFixed(3)}% above the cached share ${(idle.cachedShare * 100).toFixed(3)}% (cells leaked)`,
      );
    }
    if (prefixCachingOff && (idle.kvUsage ?? 0) > 0)
      problems.push(`KV usage ${((idle.kvUsage ?? 0) * 100).toFixed(3)}% with prefix caching off (should be 0)`);
    if (problems.length) {
      kvCheck = `FAILED: ${problems.join("; ")}`;
      failures.push(`after ${opts.idleWaitS} s idle: ${problems.join("; ")}`);
    } else {
      kvCheck =
        idle.cachedShare !== null
          ? "ok: nothing running or waiting, KV usage = the cached share"
          : prefixCachingOff
            ? "ok: nothing running or waiting, KV usage 0 (prefix caching off)"
            : "ok: nothing running or waiting (KV usage not compared: the server exports no cached-share metric)";
    }
  }
  if (rssChecked) {
    if (apiGrowth !== null && apiGrowth >= opts.maxRssGrowthPct)
      failures.push(
        `API RSS grew ${apiGrowth.toFixed(1)}% after warm-up (${fmt(apiStart, 0)} → ${fmt(apiEnd, 0)} MiB; limit ${opts.maxRssGrowthPct}%)`,
      );
    if (engGrowth !== null && engGrowth >= opts.maxRssGrowthPct)
      failures.push(
        `engine RSS grew ${engGrowth.toFixed(1)}% after warm-up ` +
          `(${fmt(engStart, 0)} → ${fmt(engEnd, 0)} MiB; limit ${opts.maxRssGrowthPct}%)`,
      );
  }
  if (drain) for (const p of drain.problems) failures.push(`drain: ${p}`);

  const { log: _log, ...optsOut } = opts;
  const result: SoakResult = {
    tool: "herd soak",
    date: new Date().toISOString(),
    options: optsOut,
    target: { url, startedServer: server.proc !== null, serverPid: server.pid, model: modelName, maxModelLen },
    ok: failures.length === 0,
    failures,
    loadSeconds: Math.round(loadSeconds * 10) / 10,
    requests: {
      total: records.length,
      expected: records.length - unexpected.length,
      unexpected: unexpected.length,
      lost: lost.length,
      byOutcome,
      byKind,
      errorsByType,
      unexpectedSamples: unexpected.slice(0, 50),
      throughputPerS: Math.round((records.length / loadSeconds) * 10) / 10,
    },
    latency: { ttftMs: stats(ttfts), itlMs: stats(itls) },
    health: {
      samples: healthMs.length,
      failures: healthFailures,
      latencyMs: stats(healthMs),
      slowest: [...healthAt]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 10)
        .map((h) => {
          const inFlight: Record<string, number> = {};
          for (const r of records) if (r.startS <= h.atS + h.ms / 1000 && r.endS >= h.atS) inc(inFlight, r.kind);
          return { ...h, inFlight };
        }),
    },
    // The histogram holds whole timer intervals; the lag is what exceeds the resolution.
    clientEventLoopDelayMs: {
      n: loopDelay.count,
      p50: loopDelay.count ? Math.max(0, loopDelay.percentile(50) / 1e6 - LOOP_RESOLUTION_MS) : null,
      p99: loopDelay.count ? Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : null,
      max: loopDelay.count ? Math.max(0, loopDelay.max / 1e6 - LOOP_RESOLUTION_MS) : null,
    },
    rss: {
      checked: rssChecked,
      api: {
        startMiB: apiStart,
        endMiB: apiEnd,
        idleMiB: idleApiRss,
        peakMiB: apiVals.length ? Math.max(...samples.map((s) => s.apiRssMiB ?? 0)) : null,
        growthPct: apiGrowth,
      },
      engine: {
        checked: rssChecked && !engineRestarted,
        startMiB: engStart,
        endMiB: engEnd,
        growthPct: engGrowth,
        incarnations: [...incarnations].map(([pid, v]) => ({
          pid,
          firstMiB: v[0] ?? null,
          lastMiB: v[v.length - 1] ?? null,
          peakMiB: Math.max(...v),
          samples: v.length,
        })),
      },
    },
    kv: {
      maxUsage: samples.reduce<number | null>((m, s) => (s.kvUsage === null ? m : Math.max(m ?? 0, s.kvUsage)), null),
      idle,
      check: kvCheck,
    },
    chaos: {
      killsDone: kills.length,
      recoveries: kills.filter((k) => k.recoveryMs !== null).length,
      recoveryMs: stats(kills.flatMap((k) => (k.recoveryMs === null ? [] : [k.recoveryMs]))),
      kills,
      restartsMetric: restartsDelta,
      unexplainedEngineRestarts,
    },
    drain,
    server: { exitedUnexpectedly: serverDied, errorLogs: server.errorLogs, logTail: serverDied !== null ? server.tail() : null },
    samples,
  };
  if (opts.out) await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** A POST on a new connection (no keep-alive reuse): "STATUS code", or "refused: CODE" when no response came. */
function probe(url: string, model: string): Promise<string> {
  return new Promise((done) => {
    const u = new URL(`${url}/v1/chat/completions`);
    const body = JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          let code = "";
          try {
            code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "";
          } catch {
            /* not JSON */
          }
          done(`${res.statusCode} ${code}`.trim());
        });
        res.on("error", (e) => done(`refused: ${errorCode(e)}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => done(`refused: ${errorCode(e)}`));
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ")).join("\n");
}

export function formatReport(r: SoakResult): string {
  const out: string[] = [];
  const o = r.options;
  out.push(`herd soak — ${r.date}`);
  out.push(
    `target ${r.target.url} (${r.target.startedServer ? `started here, pid ${r.target.serverPid}` : "external"}), ` +
      `model ${r.target.model}, max_model_len ${r.target.maxModelLen ?? "?"}; ` +
      `${o.concurrency} streams, ${r.loadSeconds} s of load (warm-up ${o.warmupS} s), ` +
      `hostile ${o.hostile ? (o.hostileRuns ? "on" : "on, runs off") : "off"}, ` +
      `engine kill ${o.killEngineEveryS > 0 ? `every ${o.killEngineEveryS} s` : "off"}`,
  );
  out.push("");
  const outcomes = Object.keys(r.requests.byOutcome).sort();
  out.push("Requests by kind and outcome");
  out.push(
    table([
      ["kind", ...outcomes, "total"],
      ...Object.entries(r.requests.byKind)
        .sort((a, b) => KINDS.indexOf(a[0] as Kind) - KINDS.indexOf(b[0] as Kind))
        .map(([k, m]) => [k, ...outcomes.map((x) => String(m[x] ?? 0)), String(Object.values(m).reduce((a, b) => a + b, 0))]),
      ["all", ...outcomes.map((x) => String(r.requests.byOutcome[x] ?? 0)), String(r.requests.total)],
    ]),
  );
  out.push(
    `expected ${r.requests.expected}, unexpected ${r.requests.unexpected}, lost ${r.requests.lost}; ` +
      `${r.requests.throughputPerS} requests/s`,
  );
  if (Object.keys(r.requests.errorsByType).length) {
    out.push("");
    out.push("Errors by type");
    out.push(
      table([
        ["type", "count"],
        ...Object.entries(r.requests.errorsByType)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, String(v)]),
      ]),
    );
  }
  out.push("");
  const L = r.latency;
  out.push(
    table([
      ["measure", "n", "p50", "p99", "max"],
      ["TTFT, normal streams (ms)", String(L.ttftMs.n), fmt(L.ttftMs.p50), fmt(L.ttftMs.p99), fmt(L.ttftMs.max)],
      ["ITL, normal streams (ms)", String(L.itlMs.n), fmt(L.itlMs.p50), fmt(L.itlMs.p99), fmt(L.itlMs.max)],
      [
        "/health latency (ms)",
        String(r.health.latencyMs.n),
        fmt(r.health.latencyMs.p50),
        fmt(r.health.latencyMs.p99),
        fmt(r.health.latencyMs.max),
      ],
      [
        "client event-loop lag (ms)",
        String(r.clientEventLoopDelayMs.n),
        fmt(r.clientEventLoopDelayMs.p50),
        fmt(r.clientEventLoopDelayMs.p99),
        fmt(r.clientEventLoopDelayMs.max),
      ],
      [
        "drain streams' first chunk (ms)",
        String(r.drain?.ttftMs.n ?? 0),
        fmt(r.drain?.ttftMs.p50 ?? null),
        fmt(r.drain?.ttftMs.p99 ?? null),
        fmt(r.drain?.ttftMs.max ?? null),
      ],
      [
        "engine recovery after kill (ms)",
        String(r.chaos.recoveryMs.n),
        fmt(r.chaos.recoveryMs.p50, 0),
        fmt(r.chaos.recoveryMs.p99, 0),
        fmt(r.chaos.recoveryMs.max, 0),
      ],
    ]),
  );
  out.push(`/health failures: ${r.health.failures}`);
  const slow = r.health.slowest.slice(0, 3).filter((h) => h.ms >= 100);
  if (slow.length) {
    out.push(
      `slowest /health: ${slow
        .map(
          (h) =>
            `${h.ms} ms at ${h.atS.toFixed(0)} s (in flight: ${Object.entries(h.inFlight)
              .map(([k, n]) => `${k} ${n}`)
              .join(", ")})`,
        )
        .join("; ")}`,
    );
  }
  out.push("");
  const a = r.rss.api;
  const e = r.rss.engine;
  out.push(
    table([
      ["RSS (MiB)", "start", "end", "growth", "peak", "idle"],
      [
        "API process",
        fmt(a.startMiB),
        fmt(a.endMiB),
        a.growthPct === null ? "-" : `${a.growthPct.toFixed(2)}%`,
        fmt(a.peakMiB),
        fmt(a.idleMiB),
      ],
      ["engine process", fmt(e.startMiB), fmt(e.endMiB), e.growthPct === null ? "-" : `${e.growthPct.toFixed(2)}%`, "", ""],
      ...e.incarnations.map((i) => [
        `  engine pid ${i.pid} (${i.samples} samples)`,
        fmt(i.firstMiB),
        fmt(i.lastMiB),
        i.firstMiB && i.lastMiB ? `${(((i.lastMiB - i.firstMiB) / i.firstMiB) * 100).toFixed(2)}%` : "-",
        fmt(i.peakMiB),
        "",
      ]),
    ]),
  );
  out.push(
    "RSS growth " +
      (r.rss.checked
        ? `checked (limit ${o.maxRssGrowthPct}%${e.checked ? "" : "; engine not checked: it was restarted"})`
        : `not checked (run < ${o.rssCheckMinDurationS} s)`) +
      "; " +
      `start = median of the first 3 samples after warm-up, end = of the last 3 under load`,
  );
  out.push("");
  const k = r.kv;
  out.push(
    `KV usage: max ${k.maxUsage === null ? "-" : `${(k.maxUsage * 100).toFixed(1)}%`}; ` +
      `after ${o.idleWaitS} s idle ${k.idle.kvUsage === null ? "-" : `${(k.idle.kvUsage * 100).toFixed(3)}%`}` +
      ` (running ${k.idle.running ?? "-"}, waiting ${k.idle.waiting ?? "-"}, ` +
      `cached share ${k.idle.cachedShare === null ? "not exported" : `${(k.idle.cachedShare * 100).toFixed(3)}%`}): ${k.check}`,
  );
  out.push(
    `Chaos: ${r.chaos.killsDone} engine kills, ${r.chaos.recoveries} recoveries, ` +
      `herd:engine_restarts_total +${r.chaos.restartsMetric ?? "?"}, restarts not caused by this run ${r.chaos.unexplainedEngineRestarts}`,
  );
  if (r.drain) {
    const d = r.drain;
    out.push(
      `SIGTERM drain: ${d.completed}/${d.streams} in-flight streams finished normally (${Object.entries(d.finishReasons)
        .map(([x, n]) => `${x} ×${n}`)
        .join(", ")}); ` +
        `new requests: ${d.probes.map((p) => `+${p.afterMs} ms → ${p.result}`).join(", ") || "none probed"}; ` +
        `exit ${d.exitSignal ?? d.exitCode} after ${d.exitMs ?? "-"} ms (grace ${o.shutdownTimeoutS * 1000} ms)`,
    );
  } else out.push(`SIGTERM drain: not run${r.target.startedServer ? "" : " (external server)"}`);
  if (r.server.exitedUnexpectedly)
    out.push(
      `SERVER EXITED at ${r.server.exitedUnexpectedly.atS} s: ` +
        `${r.server.exitedUnexpectedly.signal ?? `code ${r.server.exitedUnexpectedly.code}`}`,
    );
  if (Object.keys(r.server.errorLogs).length)
    out.push(
      `server error log lines: ${Object.entries(r.server.errorLogs)
        .map(([m, n]) => `"${m}" ×${n}`)
        .join(", ")}`,
    );
  out.push("");
  out.push(r.ok ? "RESULT: PASS" : `RESULT: FAIL\n${r.failures.map((f) => `  - ${f}`).join("\n")}`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function num(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
    return n;
  };
}

function parseMix(v: string): Partial<Record<Kind, number>> {
  const out: Partial<Record<Kind, number>> = {};
  for (const part of v.split(",").filter(Boolean)) {
    const [k, w] = part.split("=");
    if (!KINDS.includes(k as Kind) || w === undefined || !(Number(w) >= 0))
      throw new InvalidArgumentError(`--mix takes KIND=WEIGHT,… with KIND one of ${KINDS.join(", ")}`);
    out[k as Kind] = Number(w);
  }
  return out;
}

export function parseSoakArgs(argv: string[]): SoakOptions {
  const d = defaultSoakOptions();
  const program = new Command("soak")
    .description("chaos and soak run against herd serve (see docs/soak.md)")
    .option("--model <path>", "model for the server this run starts (default: the embedded random-weight Llama 4)")
    .option("--base-url <url>", "drive a running server on 127.0.0.1 instead (no chaos, no SIGTERM)")
    .option("--server-pid <pid>", "with --base-url: the server's PID, for RSS", num(1))
    .option("--serve-args <args>", 'extra `herd serve` arguments, one string (use --serve-args="--flag x")', "")
    .option("-c, --concurrency <n>", "concurrent streams", num(1), d.concurrency)
    .option("-d, --duration <s>", "seconds of load", num(1), d.durationS)
    .option("--warmup <s>", "seconds before the RSS baseline", num(0), d.warmupS)
    .option("--kill-engine-every <s>", "SIGKILL the engine every N seconds (0: never)", num(0), 0)
    .option("--shutdown-timeout <s>", "herd serve --shutdown-timeout; the drain must finish before it", num(1), d.shutdownTimeoutS)
    .option("--no-hostile", "no hostile inputs at all")
    .option("--no-hostile-runs", "no long single-class runs (letters, digits, spaces, newlines, punctuation, CJK, emoji)")
    .option("--run-length <n>", "characters in a hostile run", num(1), d.runLength)
    .option("--min-tokens <n>", "smallest max_tokens", num(1), d.minTokens)
    .option("--max-tokens <n>", "largest max_tokens", num(1), d.maxTokens)
    .option("--request-timeout <s>", "a request not finished by then is a hang", num(1), d.requestTimeoutS)
    .option("--health-interval <s>", "seconds between /health probes", num(0.05), d.healthIntervalS)
    .option("--sample-interval <s>", "seconds between RSS and /metrics samples", num(0.1), d.sampleIntervalS)
    .option("--idle-wait <s>", "idle seconds after the load before KV usage is read", num(0), d.idleWaitS)
    .option("--no-drain-check", "stop the server at the end without the SIGTERM drain check")
    .option("--drain-streams <n>", "streams in flight when SIGTERM is sent", num(1), d.drainStreams)
    .option("--max-rss-growth <pct>", "fail at this RSS growth after warm-up", num(0), d.maxRssGrowthPct)
    .option("--rss-check-min-duration <s>", "check RSS growth only for runs at least this long", num(0), d.rssCheckMinDurationS)
    .option("--ready-timeout <s>", "seconds to wait for the server to become ready", num(1), d.readyTimeoutS)
    .option("--progress-interval <s>", "seconds between progress lines on stderr", num(1), d.progressIntervalS)
    .addOption(
      new Option(
        "--mix <weights>",
        `request mix, KIND=WEIGHT,… over the defaults (${Object.entries(DEFAULT_MIX)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")})`,
      ).argParser(parseMix),
    )
    .option("--seed <n>", "seed for the request mix and prompts", num(0), d.seed)
    .option("--out <file>", "write the full result as JSON");
  program.exitOverride();
  program.parse(argv, { from: "user" });
  const o = program.opts<{
    model?: string;
    baseUrl?: string;
    serverPid?: number;
    serveArgs: string;
    concurrency: number;
    duration: number;
    warmup: number;
    killEngineEvery: number;
    shutdownTimeout: number;
    hostile: boolean;
    hostileRuns: boolean;
    runLength: number;
    minTokens: number;
    maxTokens: number;
    requestTimeout: number;
    healthInterval: number;
    sampleInterval: number;
    idleWait: number;
    drainCheck: boolean;
    drainStreams: number;
    maxRssGrowth: number;
    rssCheckMinDuration: number;
    readyTimeout: number;
    progressInterval: number;
    mix?: Partial<Record<Kind, number>>;
    seed: number;
    out?: string;
  }>();
  return {
    ...d,
    model: o.model,
    baseUrl: o.baseUrl,
    serverPid: o.serverPid,
    serveArgs: o.serveArgs.split(/\s+/).filter(Boolean),
    concurrency: Math.floor(o.concurrency),
    durationS: o.duration,
    warmupS: o.warmup,
    killEngineEveryS: o.killEngineEvery,
    shutdownTimeoutS: o.shutdownTimeout,
    hostile: o.hostile,
    hostileRuns: o.hostileRuns,
    runLength: Math.floor(o.runLength),
    minTokens: Math.floor(o.minTokens),
    maxTokens: Math.floor(o.maxTokens),
    requestTimeoutS: o.requestTimeout,
    healthIntervalS: o.healthInterval,
    sampleIntervalS: o.sampleInterval,
    idleWaitS: o.idleWait,
    drainCheck: o.drainCheck,
    drainStreams: Math.floor(o.drainStreams),
    maxRssGrowthPct: o.maxRssGrowth,
    rssCheckMinDurationS: o.rssCheckMinDuration,
    readyTimeoutS: o.readyTimeout,
    progressIntervalS: o.progressInterval,
    mix: { ...DEFAULT_MIX, ...o.mix },
    seed: o.seed,
    out: o.out,
  };
}

async function main(): Promise<void> {
  const opts = parseSoakArgs(process.argv.slice(2));
  const result = await runSoak(opts);
  process.stdout.write(`${formatReport(result)}\n`);
  if (opts.out) process.stdout.write(`result: ${opts.out}\n`);
  process.exit(result.ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed the error (or the help)
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
}
