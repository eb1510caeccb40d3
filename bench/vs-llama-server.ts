/**
 * herd vs llama-server over HTTP (issue 7): both servers on the same GGUF, the same prebuilt kernels
 * (`scripts/build-llama-peer.sh` links llama-server against the libraries herd loads), the same
 * threads, KV cells and batch; the same `herd bench` workloads against each, interleaved.
 *
 *   npx tsx bench/vs-llama-server.ts [--model X.gguf] [--threads 2] [--kv-tokens 16384] [--repeat 1] [--reuse-prompts]
 *     [--only single,agg8,agg32,prefix] [--herd-args "..."] [--peer-args "..."] [--peer-env K=V ...]
 *
 * Reports, with the ratio herd / llama-server:
 * - single-stream decode: 1 request at a time, 64 prompt + 128 generated tokens; 1000 / mean TPOT (tok/s);
 * - aggregate throughput at 8 and 32 concurrent streams: `output_throughput` (generated tok/s) of
 *   2 × N requests (64 + 128 tokens, ignore_eos) at max concurrency N;
 * - shared-prefix TTFT: `--dataset-name prefix` (2 system prompts of 1024 words, a distinct 32-word
 *   question each, 16 tokens out) at concurrency 4; mean TTFT (lower is better).
 * Targets (issue 7): aggregate ≥ 1.0× at 8 and 32; shared-prefix TTFT ≤ 0.5× llama-server's.
 * Every round and workload draws new prompts (the same for both servers), so no round is served from
 * a cache an earlier round filled; `--reuse-prompts` repeats the same prompts every round instead.
 *
 * llama-server runs with `-np 32 -kvu` (unified KV, the prompt cache on: its defaults), herd with
 * `--max-num-seqs 32` (prefix caching on: its default). Each loads the weights its own default way: herd
 * into its memory on transparent huge pages (`--load-mode auto` = none on the CPU), llama-server by
 * mmap. The control run that gives llama-server the same loading (the `=` is needed: a separate value
 * that starts with `--` reads as another flag):
 *   `--peer-args="--load-mode none" --peer-env GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
 * Results: stdout (a Markdown table for the README) and `.cache/bench/vs-llama-server-<date>.json`,
 * with every `herd bench` result beside it. Not a test: run it on a quiet machine.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureEmbeddedModel } from "../src/model/embedded.js";
import type { BenchResult } from "../src/bench/result.js";
import { WORDS } from "../src/bench/datasets/words.js";
import { llamaPeerFlags } from "./llama-peer.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "2" },
    "kv-tokens": { type: "string", default: "16384" },
    "batch-tokens": { type: "string", default: "512" },
    "peer-bin": { type: "string", default: join(ROOT, ".cache/llama-peer/bin") },
    repeat: { type: "string", default: "1" },
    only: { type: "string", default: "single,agg8,agg32,prefix" },
    out: { type: "string" },
    "herd-args": { type: "string", default: "" },
    "peer-args": { type: "string", default: "" },
    "peer-env": { type: "string", multiple: true, default: [] },
    "reuse-prompts": { type: "boolean", default: false },
  },
});
const THREADS = Number(args.threads);
const KV = Number(args["kv-tokens"]);
const BATCH = Number(args["batch-tokens"]);
const REPEAT = Number(args.repeat);
const SEQS = 32;
/** `--peer-env NAME=VALUE`, parsed before anything starts. */
const PEER_ENV = Object.fromEntries(
  args["peer-env"]!.map((kv) => {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`--peer-env takes NAME=VALUE (got ${JSON.stringify(kv)})`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  }),
);

interface Workload {
  key: string;
  title: string;
  /** `herd bench` flags (besides target and output). */
  flags: string[];
  /** The number compared, from the bench result. */
  value: (r: BenchResult) => number;
  unit: string;
  higherIsBetter: boolean;
  target: string;
}

const m = (r: BenchResult) => r.runs[0]!.metrics as unknown as Record<string, number>;
const common = ["--dataset-name", "random", "--random-input-len", "64", "--random-output-len", "128", "--ignore-eos"];
const WORKLOADS: Workload[] = [
  {
    key: "single",
    title: "single-stream decode",
    flags: [...common, "--max-concurrency", "1", "--num-prompts", "3"],
    value: (r) => 1000 / m(r).mean_tpot_ms!,
    unit: "tok/s",
    higherIsBetter: true,
    target: "",
  },
  {
    key: "agg8",
    title: "aggregate, 8 streams",
    flags: [...common, "--max-concurrency", "8", "--num-prompts", "16"],
    value: (r) => m(r).output_throughput!,
    unit: "tok/s",
    higherIsBetter: true,
    target: "≥ 1.0×",
  },
  {
    key: "agg32",
    title: "aggregate, 32 streams",
    flags: [...common, "--max-concurrency", "32", "--num-prompts", "64"],
    value: (r) => m(r).output_throughput!,
    unit: "tok/s",
    higherIsBetter: true,
    target: "≥ 1.0×",
  },
  {
    key: "prefix",
    title: "shared-prefix mean TTFT",
    flags: [
      "--dataset-name",
      "prefix",
      "--prefix-repetition-prefix-len",
      "1024",
      "--prefix-repetition-suffix-len",
      "32",
      "--prefix-repetition-num-prefixes",
      "2",
      "--prefix-repetition-output-len",
      "16",
      "--ignore-eos",
      "--num-prompts",
      "24",
      "--max-concurrency",
      "4",
    ],
    value: (r) => m(r).mean_ttft_ms!,
    unit: "ms",
    higherIsBetter: false,
    target: "≤ 0.5×",
  },
];

interface Server {
  name: "herd" | "llama-server";
  url: string;
  child: ChildProcess;
  argv: string[];
  log: () => string;
}

async function waitHealthy(url: string, path: string, child: ChildProcess, log: () => string, name: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${log().slice(-3000)}`);
    try {
      if ((await fetch(`${url}${path}`)).ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${name} did not become ready:\n${log().slice(-3000)}`);
    await sleep(250);
  }
}

function capture(child: ChildProcess): () => string {
  let log = "";
  const add = (d: Buffer) => (log = (log + d.toString()).slice(-50_000));
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => log;
}

async function startHerd(model: string, port: number): Promise<Server> {
  const argv = [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "serve",
    model,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--threads",
    String(THREADS),
    "--max-num-seqs",
    String(SEQS),
    "--kv-cache-tokens",
    String(KV),
    "--max-model-len",
    String(Math.min(KV, 8192)),
    "--max-num-batched-tokens",
    String(BATCH),
    "--served-model-name",
    "bench",
    "--disable-log-requests",
    ...(args["herd-args"] ? args["herd-args"].split(/\s+/) : []),
  ];
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const log = capture(child);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, "/ready", child, log, "herd");
  return { name: "herd", url, child, argv: ["herd", ...argv.slice(4)], log };
}

async function startLlamaServer(model: string, port: number): Promise<Server> {
  const bin = join(args["peer-bin"]!, "llama-server");
  const argv = [
    ...llamaPeerFlags({ model, kvTokens: KV, batchTokens: BATCH, threads: THREADS }),
    "-np",
    String(SEQS),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--no-webui",
    "--fit",
    "off",
    "-a",
    "bench",
    ...(args["peer-args"] ? args["peer-args"].split(/\s+/) : []),
  ];
  const env = { ...process.env, ...PEER_ENV };
  const child = spawn(bin, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  const log = capture(child);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, "/health", child, log, "llama-server");
  return { name: "llama-server", url, child, argv: [...args["peer-env"]!, "llama-server", ...argv], log };
}

async function stop(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  const t = setTimeout(() => s.child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

/**
 * `logit_bias` +50 on ~30 one-token English words (from herd's /tokenize), sent to both servers: a
 * random-weight model then emits valid UTF-8, which llama-server requires of every output
 * (llama-cpp-build.md F2). The compute per token does not change.
 */
async function asciiBias(herdUrl: string): Promise<Record<string, number>> {
  const bias: Record<string, number> = {};
  for (const w of WORDS.slice(0, 60)) {
    const r = await fetch(`${herdUrl}/tokenize`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: ` ${w}`, add_special_tokens: false }),
    });
    const ids = ((await r.json()) as { tokens: number[] }).tokens;
    if (ids.length === 1) bias[String(ids[0])] = 50;
    if (Object.keys(bias).length >= 30) break;
  }
  if (Object.keys(bias).length < 10) throw new Error("could not find one-token words for the logit bias");
  return bias;
}

let extraBody = "{}";
const failures: string[] = [];

/**
 * Runs `herd bench` (the CLI, from source) against `s`; returns its saved result. Asynchronous on
 * purpose: the servers' output pipes must keep draining meanwhile (a blocked pipe stalls llama-server,
 * which logs every request).
 */
async function bench(s: Server, w: Workload, dir: string, tag: string, seed: number): Promise<BenchResult> {
  const file = `${w.key}-${s.name}-${tag}.json`;
  const argv = [
    "--import",
    "tsx",
    "src/cli/main.ts",
    "bench",
    "--base-url",
    s.url,
    "--model",
    "bench",
    "--label",
    s.name,
    "--disable-tqdm",
    "--save-result",
    "--result-dir",
    dir,
    "--result-filename",
    file,
    "--request-timeout",
    "300",
    "--extra-body",
    extraBody,
    "--seed",
    String(seed),
    ...w.flags,
  ];
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
  if (r.status !== 0)
    throw new Error(`herd bench against ${s.name} failed (${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  const result = JSON.parse(readFileSync(join(dir, file), "utf8")) as BenchResult;
  const failed = m(result).failed ?? 0;
  if (failed > 0) {
    // Recorded, not fatal: a rare dropped connection should not void a long comparison run.
    const total = failed + (m(result).completed ?? 0);
    console.error(`  ${failed} of ${total} requests failed against ${s.name}: ${result.runs[0]!.errors.find((e) => e)}`);
    if (failed * 2 > total) throw new Error(`most requests failed against ${s.name}\n${s.name}'s log:\n${s.log().slice(-4000)}`);
    failures.push(`${w.key}/${s.name}/${tag}: ${failed} failed`);
  }
  return result;
}

/**
 * The prompts' seed: the same for both servers in a round, new for every round and workload, so
 * neither server answers from what an earlier round left in its caches (llama-server keeps finished
 * prompts in host memory, `--cache-ram`, and restores them on an exact repeat). `--reuse-prompts`
 * sends the same prompts every round instead (one fixed seed, like repeated runs of `vllm bench serve`).
 */
function seedFor(w: Workload, rep: number): number {
  return args["reuse-prompts"] ? 1 : 1000 * (WORKLOADS.indexOf(w) + 1) + rep;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const peer = join(args["peer-bin"]!, "llama-server");
  if (!existsSync(peer)) {
    console.error("building llama-server against the prebuilt libraries (scripts/build-llama-peer.sh; once, cached)…");
    const b = spawnSync("bash", [join(ROOT, "scripts/build-llama-peer.sh")], { stdio: "inherit" });
    if (b.status !== 0) throw new Error("scripts/build-llama-peer.sh failed");
  }
  const model = args.model ? resolve(args.model) : await ensureEmbeddedModel({ preset: "bench", quant: "Q8_0" });
  const date = new Date();
  const dir = join(ROOT, ".cache/bench", `vs-llama-server-${date.toISOString().replace(/[:.]/g, "-")}`);
  await mkdir(dir, { recursive: true });
  const only = new Set(args.only!.split(","));
  const workloads = WORKLOADS.filter((w) => only.has(w.key));
  console.log(`herd vs llama-server — ${date.toISOString()}`);
  console.log(
    `cpu: ${cpus()[0]?.model ?? "?"} (${availableParallelism()} cores), threads ${THREADS}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `model: ${model} (${(statSync(model).size / 2 ** 20).toFixed(0)} MiB); KV ${KV} cells unified, batch ${BATCH}, ${SEQS} sequences`,
  );

  const herd = await startHerd(model, 18401);
  const peerServer = await startLlamaServer(model, 18402).catch(async (err: unknown) => {
    await stop(herd);
    throw err;
  });
  extraBody = JSON.stringify({ logit_bias: await asciiBias(herd.url) });
  const values: Record<string, { herd: number[]; peer: number[]; load: number[] }> = {};
  try {
    // One unrecorded request each: first decodes allocate compute buffers.
    for (const s of [herd, peerServer])
      await bench(s, { ...WORKLOADS[0]!, flags: [...common, "--max-concurrency", "1", "--num-prompts", "1"] }, dir, "warmup", 9999);
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const w of workloads) {
        const v = (values[w.key] ??= { herd: [], peer: [], load: [] });
        // Alternate which side goes first, so drift hits both alike.
        const order = rep % 2 === 0 ? [herd, peerServer] : [peerServer, herd];
        for (const s of order) {
          v.load.push(loadavg()[0]!);
          const x = w.value(await bench(s, w, dir, `r${rep}`, seedFor(w, rep)));
          (s === herd ? v.herd : v.peer).push(x);
          console.error(`  ${w.title} — ${s.name}: ${x.toFixed(1)} ${w.unit} (load ${loadavg()[0]!.toFixed(2)})`);
        }
      }
    }
  } finally {
    await stop(herd);
    await stop(peerServer);
  }

  const rows = workloads.map((w) => {
    const v = values[w.key]!;
    const h = median(v.herd);
    const p = median(v.peer);
    return {
      key: w.key,
      title: w.title,
      unit: w.unit,
      herd: h,
      llamaServer: p,
      ratio: h / p,
      target: w.target,
      herdAll: v.herd,
      peerAll: v.peer,
      load: v.load,
    };
  });
  console.log("");
  console.log("| workload | herd | llama-server | herd / llama-server | target |");
  console.log("|---|---|---|---|---|");
  for (const r of rows)
    console.log(`| ${r.title} (${r.unit}) | ${r.herd.toFixed(1)} | ${r.llamaServer.toFixed(1)} | ${r.ratio.toFixed(2)}× | ${r.target} |`);
  if (failures.length > 0) console.log(`\nfailed requests (excluded from the metrics, as vLLM's benchmark does): ${failures.join("; ")}`);
  const out = args.out ?? `${dir}.json`;
  await writeFile(
    out,
    JSON.stringify(
      {
        date: date.toISOString(),
        cpu: cpus()[0]?.model,
        cores: availableParallelism(),
        threads: THREADS,
        kvTokens: KV,
        batch: BATCH,
        seqs: SEQS,
        reusePrompts: args["reuse-prompts"],
        model,
        herd: herd.argv,
        llamaServer: peerServer.argv,
        rows,
        failures,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nsaved ${out} (herd bench results in ${dir})`);
}

await main();
