/**
 * Boots a real `herd serve` process (the CLI from source, via tsx) on a free port and waits until
 * it is ready; the e2e suites then drive it over HTTP with the official `openai` client.
 * One server per test file keeps the suite fast on small machines.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { inUnitTests } from "../../fixtures/paths.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface LogLine {
  level?: string;
  msg?: string;
  [key: string]: unknown;
}

export interface HerdServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly proc: ChildProcess;
  /** Parsed JSON log lines from stdout, in order. */
  readonly logs: LogLine[];
  /** Raw stdout + stderr text. */
  output(): string;
  /** An `openai` client for this server. */
  client(opts?: { apiKey?: string; maxRetries?: number }): OpenAI;
  /** GET/POST helper with the server's base URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Resolves with the exit code/signal once the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (default) and wait for exit (SIGKILL after `killAfterMs`). */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Wait for /ready 200 (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** API key for the readiness wait is not needed (/ready is open). */
}

export async function startHerd(args: string[], opts: StartOptions = {}): Promise<HerdServer> {
  if (inUnitTests()) throw new Error("startHerd() in a unit test: a real `herd serve` loads a model; this test belongs under test/");
  const proc = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, HERD_LOG_LEVEL: "info", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  let text = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  proc.stderr?.on("data", (b: Buffer) => (text += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herd serve did not start listening:\n${text}`)), opts.readyTimeoutMs ?? 120_000);
    void exited.then(({ code, signal }) => reject(new Error(`herd serve exited (${signal ?? code}) before listening:\n${text}`)));
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      text += `${line}\n`;
      if (!line.startsWith("{")) return;
      try {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (typeof entry.msg === "string" && entry.msg.startsWith("listening on") && typeof entry.port === "number") {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        /* not a log line */
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const server: HerdServer = {
    url,
    port,
    proc,
    logs,
    output: () => text,
    client: (o = {}) => new OpenAI({ baseURL: `${url}/v1`, apiKey: o.apiKey ?? "unused", maxRetries: o.maxRetries ?? 0, timeout: 120_000 }),
    fetch: (path, init) => fetch(`${url}${path}`, init),
    exited,
    async stop(signal = "SIGTERM", killAfterMs = 30_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
        const r = await exited;
        clearTimeout(timer);
        return r;
      }
      return exited;
    },
  };
  if (opts.waitReady ?? true) await waitReady(server, opts.readyTimeoutMs ?? 120_000);
  return server;
}

export async function waitReady(server: HerdServer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await server.fetch("/ready")).status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (server.proc.exitCode !== null) throw new Error(`herd serve exited:\n${server.output()}`);
    if (Date.now() > deadline) throw new Error(`herd serve not ready after ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Polls `cond` until it holds. The timeout is a safety net against a hang, not the test's pace (it
 * is far above what any condition here needs); it throws naming `what`.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The value of one metric series in Prometheus text (first match), or null. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return null;
}

export async function getMetric(
  server: HerdServer,
  name: string,
  labels: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<number | null> {
  const text = await (await server.fetch("/metrics", { headers })).text();
  return metricValue(text, name, labels);
}
