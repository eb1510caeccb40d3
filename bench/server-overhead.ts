/**
 * What the HTTP server adds on top of the engine (not a test).
 *
 *   npx tsx bench/server-overhead.ts [--model PATH.gguf] [--requests 300] [--streams 16] [--tokens 128] [--rounds 3]
 *                                    [--in-process] [--stream-interval N]
 *
 * Both sides use the same engine setup: "direct" is an `EngineClient` in this process; "HTTP" is a
 * real `herd serve` process, driven by a keep-alive node:http client. By default the engine runs in a child
 * process on both sides (as `herd serve` runs it), so HTTP adds a process hop plus the server's
 * work. With `--in-process` the engine runs inside the caller on both sides (`--in-process-engine`
 * for the server): the difference is then only HTTP and the server's code (parsing, validation,
 * tokenization, SSE framing, metrics).
 *   1. latency: sequential 1-token completions, p50/p99 — engine.generate() directly vs
 *      POST /v1/completions (text prompt, tokenized by the server) vs the same with a token-id prompt;
 *   2. throughput: 16 concurrent streams of N tokens each — engine directly vs SSE through HTTP.
 * For scale it also times a bare `node:http` echo server (the floor any Node HTTP server pays).
 * Rounds alternate engine/HTTP so drift on a shared machine hits both sides alike; medians are reported.
 * Target (issue #3): HTTP adds < 1 ms at p50 and costs < 3% of throughput.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { resolveServeConfig } from "../src/config/serve-config.js";
import { createEngineClient } from "../src/engine/client/index.js";
import type { EngineClient } from "../src/engine/client/engine-client.js";
import { defaultSamplingParams } from "../src/engine/sample/sampling-params.js";
import type { SamplingParams } from "../src/engine/types.js";
import { toEngineConfig } from "../src/server/server.js";
import { startHerd } from "../test/e2e/helpers/herd-server.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: new URL("../../shared/fixtures/stories260K.gguf", import.meta.url).pathname },
    requests: { type: "string", default: "300" },
    streams: { type: "string", default: "16" },
    tokens: { type: "string", default: "128" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string" },
    "in-process": { type: "boolean", default: false },
    "stream-interval": { type: "string", default: "1" },
  },
});
const REQUESTS = Number(args.requests);
const STREAMS = Number(args.streams);
const TOKENS = Number(args.tokens);
const ROUNDS = Number(args.rounds);
const PROMPT = "Once upon a time";

let seq = 0;
const sampling = (over: Partial<SamplingParams>): SamplingParams => ({ ...defaultSamplingParams(), temperature: 0, ...over });

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux; 0 elsewhere). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return 0;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
function median(xs: number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

async function latencies(n: number, one: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await one(); // warm caches and connections
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await one();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

async function throughput(streams: number, one: () => Promise<number>): Promise<number> {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, one));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== streams * TOKENS) throw new Error(`expected ${streams * TOKENS} tokens, got ${total}`);
  return total / ((performance.now() - t0) / 1000);
}

async function engineOneToken(engine: EngineClient, ids: number[]): Promise<void> {
  for await (const _ of engine.generate({ requestId: `b${++seq}`, promptTokenIds: ids, sampling: sampling({ maxTokens: 1 }) })) {
    /* drain */
  }
}

async function engineStream(engine: EngineClient, ids: number[]): Promise<number> {
  let n = 0;
  for await (const out of engine.generate({
    requestId: `b${++seq}`,
    promptTokenIds: ids,
    sampling: sampling({ maxTokens: TOKENS, ignoreEos: true }),
  })) {
    for (const d of out.deltas) n += d.tokenIds.length;
  }
  return n;
}

/**
 * The HTTP client: node:http with keep-alive, not fetch. undici's web streams cost the client ~2×
 * node:http's CPU per event, and on 2 cores the client competes with the server and the engine: a
 * heavy client would be counted as server overhead. Stream events are not parsed one by one (no
 * latencies are taken from them); the token count comes from the final usage event.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function post(url: string, body: unknown): Promise<http.IncomingMessage> {
  const u = new URL(url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) },
      },
      resolve,
    );
    req.on("error", reject);
    req.end(data);
  });
}

async function httpOneToken(url: string, prompt: string | number[]): Promise<void> {
  const res = await post(`${url}/v1/completions`, { prompt, max_tokens: 1, temperature: 0 });
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`);
}

async function httpStream(url: string, ids: number[]): Promise<number> {
  const res = await post(`${url}/v1/completions`, {
    prompt: ids,
    max_tokens: TOKENS,
    temperature: 0,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  // Keep the last two chunks: the usage event and [DONE] end the stream.
  let prev: Buffer = Buffer.alloc(0);
  let last: Buffer = Buffer.alloc(0);
  for await (const chunk of res) {
    prev = last;
    last = chunk as Buffer;
  }
  const events = Buffer.concat([prev, last]).toString("utf8").split("\n\n");
  const usageEvent = events.reverse().find((e) => e.startsWith("data: {") && e.includes('"usage":{'));
  if (!usageEvent) throw new Error("no usage event at the end of the stream");
  return (JSON.parse(usageEvent.slice(6)) as { usage: { completion_tokens: number } }).usage.completion_tokens;
}

/**
 * The floor: a bare `node:http` server in its own process that answers every POST with a small JSON
 * body. What any Node HTTP server costs on this machine, before herd does anything.
 */
async function startBareServer(): Promise<{ url: string; stop: () => void }> {
  const code =
    `const http=require("node:http");const s=http.createServer((q,r)=>{let b="";q.on("data",c=>b+=c);` +
    `q.on("end",()=>{r.setHeader("content-type","application/json");r.end(JSON.stringify({ok:true,n:b.length}))})});` +
    `s.listen(0,"127.0.0.1",()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

async function main(): Promise<void> {
  const maxNumSeqs = String(Math.max(STREAMS, 16));
  const config = resolveServeConfig(
    { model: args.model, maxNumSeqs, ...(args.threads ? { threads: args.threads } : {}) },
    { useEnv: false },
  );
  const inProcess = args["in-process"] ?? false;
  const engine = await createEngineClient(toEngineConfig(config, args.model), { inProcess });
  const server = await startHerd([
    args.model,
    "--max-num-seqs",
    maxNumSeqs,
    "--disable-log-requests",
    ...(args.threads ? ["--threads", args.threads] : []),
    ...(inProcess ? ["--in-process-engine"] : []),
    "--stream-interval",
    args["stream-interval"] ?? "1",
  ]);
  const ids = await engine.tokenize(PROMPT);
  const bare = await startBareServer();
  const rows: Record<string, number[]> = {
    enginep50: [],
    enginep99: [],
    httpp50: [],
    httpp99: [],
    idsp50: [],
    idsp99: [],
    barep50: [],
    barep99: [],
    engineTps: [],
    httpTps: [],
    cpuReq: [],
    cpuTok: [],
  };
  const spid = server.proc.pid as number;
  for (let r = 0; r < ROUNDS; r++) {
    const b = await latencies(REQUESTS, () => httpOneToken(bare.url, PROMPT));
    rows.barep50?.push(b.p50);
    rows.barep99?.push(b.p99);
    const e = await latencies(REQUESTS, () => engineOneToken(engine, ids));
    let c0 = cpuMs(spid);
    const h = await latencies(REQUESTS, () => httpOneToken(server.url, PROMPT));
    rows.cpuReq?.push((cpuMs(spid) - c0) / (REQUESTS + 20));
    const hi = await latencies(REQUESTS, () => httpOneToken(server.url, ids));
    const et = await throughput(STREAMS, () => engineStream(engine, ids));
    c0 = cpuMs(spid);
    const ht = await throughput(STREAMS, () => httpStream(server.url, ids));
    rows.cpuTok?.push(((cpuMs(spid) - c0) * 1000) / (STREAMS * TOKENS));
    rows.enginep50?.push(e.p50);
    rows.enginep99?.push(e.p99);
    rows.httpp50?.push(h.p50);
    rows.httpp99?.push(h.p99);
    rows.idsp50?.push(hi.p50);
    rows.idsp99?.push(hi.p99);
    rows.engineTps?.push(et);
    rows.httpTps?.push(ht);
    console.error(
      `round ${r + 1}/${ROUNDS}: engine p50 ${e.p50.toFixed(3)} ms, http p50 ${h.p50.toFixed(3)} ms; ` +
        `engine ${et.toFixed(0)} tok/s, http ${ht.toFixed(0)} tok/s`,
    );
  }
  const m = (k: string) => median(rows[k] ?? []);
  const fmt = (x: number) => x.toFixed(3).padStart(8);
  console.log(
    `model ${args.model}; engine ${inProcess ? "in-process" : "in a child process"}; --stream-interval ${args["stream-interval"]}; ` +
      `${REQUESTS} sequential 1-token requests × ${ROUNDS} rounds; ${STREAMS} streams × ${TOKENS} tokens`,
  );
  console.log("latency of a 1-token completion (ms)      p50       p99");
  console.log(
    `  floor: bare node:http echo server   ${fmt(m("barep50"))}  ${fmt(m("barep99"))}   (no model; any Node HTTP server pays this)`,
  );
  console.log(`  engine.generate() directly          ${fmt(m("enginep50"))}  ${fmt(m("enginep99"))}`);
  console.log(
    `  HTTP /v1/completions, text prompt   ${fmt(m("httpp50"))}  ${fmt(m("httpp99"))}   ` +
      `(+${(m("httpp50") - m("enginep50")).toFixed(3)} ms p50)`,
  );
  console.log(
    `  HTTP /v1/completions, token ids     ${fmt(m("idsp50"))}  ${fmt(m("idsp99"))}   ` +
      `(+${(m("idsp50") - m("enginep50")).toFixed(3)} ms p50)`,
  );
  // HTTP = the floor (client + socket + a minimal server) + the engine + herd's own server work.
  console.log(`  herd's own work (token ids − direct − floor)   ${(m("idsp50") - m("enginep50") - m("barep50")).toFixed(3)} ms p50`);
  console.log(`throughput, ${STREAMS} concurrent streams (generated tok/s)`);
  console.log(`  engine directly                     ${m("engineTps").toFixed(0).padStart(8)}`);
  console.log(
    `  HTTP SSE streams                    ${m("httpTps").toFixed(0).padStart(8)}   ` +
      `(${((m("httpTps") / m("engineTps") - 1) * 100).toFixed(1)}%)`,
  );
  if (!inProcess) {
    console.log("CPU used by the server process itself (load-independent; 10 ms clock ticks)");
    console.log(`  per 1-token request (text prompt)   ${m("cpuReq").toFixed(3).padStart(8)} ms`);
    console.log(`  per streamed token                  ${m("cpuTok").toFixed(1).padStart(8)} µs`);
  }
  bare.stop();
  await server.stop();
  await engine.close();
}

await main();
