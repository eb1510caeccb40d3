/**
 * `herd bench`: the serving benchmark, against any OpenAI-compatible server (herd, vLLM,
 * llama-server). Flag names are `vllm bench serve`'s wherever the same thing exists; the herd-only
 * ones are marked "(herd)". `--request-rate` and `--max-concurrency` take comma lists: the run sweeps
 * every combination. `--compare A.json B.json` prints ratios instead of running anything.
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { needsChat } from "../../bench/datasets/index.js";
import { DEFAULT_PERCENTILES } from "../../bench/metrics.js";
import { type BenchConfig, runBench, runCompare } from "../../bench/run.js";
import type { DatasetName, EndpointKind } from "../../bench/types.js";
import { HERD_VERSION } from "../../common/version.js";
import { readApiKeyEnv } from "../../config/env.js";

interface BenchFlags {
  baseUrl?: string;
  host: string;
  port: number;
  endpoint?: string;
  backend?: "openai" | "openai-chat";
  model?: string;
  apiKey?: string;
  datasetName: DatasetName;
  numPrompts: number;
  seed: number;
  randomInputLen: number;
  randomOutputLen: number;
  randomRangeRatio: number;
  randomPrefixLen: number;
  prefixRepetitionPrefixLen: number;
  prefixRepetitionSuffixLen: number;
  prefixRepetitionNumPrefixes: number;
  prefixRepetitionOutputLen: number;
  multiturnNumTurns: number;
  randomMmBaseItemsPerRequest: number;
  randomMmNumMmItemsRangeRatio: number;
  imageSize: [number, number];
  requestRate: number[];
  maxConcurrency?: number[];
  burstiness: number;
  numWarmups: number;
  ignoreEos?: boolean;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number;
  extraBody?: Record<string, unknown>;
  requestTimeout: number;
  metricPercentiles: number[];
  saveResult?: boolean;
  resultDir: string;
  resultFilename?: string;
  reportFilename?: string;
  label?: string;
  metadata?: string[];
  disableTqdm?: boolean;
  compare?: string[];
}

function jsonObject(v: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError("must be a JSON object");
  return parsed as Record<string, unknown>;
}

function int(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${v}`);
    return n;
  };
}

function float(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}, got ${v}`);
    return n;
  };
}

/** "inf" or a positive number, or a comma list of them. */
function rates(v: string): number[] {
  return v.split(",").map((s) => {
    const t = s.trim().toLowerCase();
    if (t === "inf" || t === "infinity") return Number.POSITIVE_INFINITY;
    const n = Number(t);
    if (!(n > 0)) throw new InvalidArgumentError(`expected "inf" or a rate > 0 (requests/s), got ${s}`);
    return n;
  });
}

const intList = (v: string) => v.split(",").map((s) => int(1)(s.trim()));
const floatList = (v: string) => v.split(",").map((s) => float(0)(s.trim()));

function size(v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new InvalidArgumentError(`expected WIDTHxHEIGHT (e.g. 256x256), got ${v}`);
  return [Number(m[1]), Number(m[2])];
}

function addOptions(cmd: Command): void {
  const opt = (flags: string, help: string, parse?: (v: string) => unknown, def?: unknown, defText?: string) => {
    const o = new Option(flags, help);
    if (parse) o.argParser(parse);
    if (def !== undefined) o.default(def, defText);
    cmd.addOption(o);
  };
  opt("--base-url <url>", "server URL, e.g. http://127.0.0.1:8000 (overrides --host/--port)");
  opt("--host <host>", "server host", undefined, "127.0.0.1");
  opt("--port <n>", "server port", int(1), 8000);
  opt("--endpoint <path>", "API path (default: /v1/completions; /v1/chat/completions for multiturn and image)");
  cmd.addOption(new Option("--backend <name>", "request format (default: from --endpoint)").choices(["openai", "openai-chat"]));
  opt("--model <name>", "model name sent in requests (default: the first of GET /v1/models)");
  opt("--api-key <key>", "sent as Authorization: Bearer (default: HERD_API_KEY or VLLM_API_KEY)");
  cmd.addOption(
    new Option("--dataset-name <name>", "workload")
      .choices(["random", "prefix", "prefix_repetition", "multiturn", "image"])
      .default("random"),
  );
  opt("--num-prompts <n>", "requests per load point", int(1), 1000);
  opt("--seed <n>", "seed for prompts and arrival times", int(0), 0);
  opt("--random-input-len <n>", "prompt length in tokens (random, multiturn per turn, image)", int(1), 1024);
  opt("--random-output-len <n>", "max_tokens (random, multiturn, image)", int(1), 128);
  opt("--random-range-ratio <r>", "lengths vary uniformly within ±ratio", float(0), 0);
  opt("--random-prefix-len <n>", "a shared prefix of this many tokens before every random prompt", int(0), 0);
  opt(
    "--prefix-repetition-prefix-len <n>",
    "shared prefix length (prefix: the system prompt; prefix_repetition: the start of the prompt)",
    int(1),
    256,
  );
  opt("--prefix-repetition-suffix-len <n>", "question length after the prefix (prefix, prefix_repetition)", int(1), 256);
  opt("--prefix-repetition-num-prefixes <n>", "distinct prefixes (prefix, prefix_repetition)", int(1), 10);
  opt("--prefix-repetition-output-len <n>", "max_tokens (prefix, prefix_repetition)", int(1), 128);
  opt("--multiturn-num-turns <n>", "user turns per conversation (multiturn) (herd)", int(1), 4);
  opt("--random-mm-base-items-per-request <n>", "images per request, on average (image)", int(1), 3);
  opt("--random-mm-num-mm-items-range-ratio <r>", "images per request vary within ±ratio (image; default 1–5)", float(0), 0.6);
  opt("--image-size <WxH>", "synthetic image size (image) (herd)", size, [256, 256], "256x256");
  opt(
    "--request-rate <r>",
    'requests/s, Poisson arrivals; "inf" sends all at once; a comma list sweeps',
    rates,
    [Number.POSITIVE_INFINITY],
    "inf",
  );
  opt("--max-concurrency <n>", "most requests in flight (closed loop with an infinite rate); a comma list sweeps", intList);
  opt("--burstiness <f>", "gamma shape of arrival gaps (1 = Poisson)", float(Number.MIN_VALUE), 1);
  opt("--num-warmups <n>", "unrecorded requests sent first", int(0), 0);
  opt("--ignore-eos", "ask the server to ignore EOS (vLLM/llama-server extension), so every request generates max_tokens");
  opt("--temperature <t>", "sampling temperature (0: greedy)", float(0), 0);
  opt("--top-p <p>", "sampling top_p", float(0));
  opt("--top-k <k>", "sampling top_k", int(-1));
  opt("--min-p <p>", "sampling min_p", float(0));
  opt("--extra-body <json>", 'JSON object merged into every request body, e.g. \'{"logit_bias": {"1234": 5}}\'', jsonObject);
  opt("--request-timeout <s>", "per-request timeout in seconds (herd)", float(0.001), 600);
  opt(
    "--metric-percentiles <list>",
    "percentiles reported for TTFT, TPOT, ITL and E2EL",
    floatList,
    [...DEFAULT_PERCENTILES],
    DEFAULT_PERCENTILES.join(","),
  );
  opt("--save-result", "write the JSON result (and the HTML report beside it)");
  opt("--result-dir <dir>", "where --save-result writes", undefined, ".");
  opt("--result-filename <name>", "result file name (default: herd-bench-<dataset>-<model>-<time>.json)");
  opt("--report-filename <path>", "write the HTML report here (herd)");
  opt("--label <text>", "names this result in reports and comparisons (default: model @ host)");
  cmd.addOption(new Option("--metadata <KEY=VALUE...>", "recorded in the result"));
  opt("--disable-tqdm", "no progress bar");
  cmd.addOption(new Option("--compare <files...>", "compare two result files (A B): prints B/A per metric, runs nothing (herd)"));
}

function endpointKind(flags: BenchFlags, endpoint: string): EndpointKind {
  if (flags.backend) return flags.backend === "openai-chat" ? "chat" : "completions";
  return /chat\/completions\/?$/.test(endpoint) ? "chat" : "completions";
}

function toConfig(flags: BenchFlags): BenchConfig {
  const chatDataset = needsChat(flags.datasetName);
  const endpoint = flags.endpoint ?? (chatDataset || flags.backend === "openai-chat" ? "/v1/chat/completions" : "/v1/completions");
  const kind = endpointKind(flags, endpoint);
  if (chatDataset && kind !== "chat")
    throw new InvalidArgumentError(`--dataset-name ${flags.datasetName} needs a chat endpoint (/v1/chat/completions), not ${endpoint}`);
  const metadata: Record<string, string> = {};
  for (const kv of flags.metadata ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`--metadata takes KEY=VALUE, got ${kv}`);
    metadata[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const extraBody: Record<string, unknown> = { temperature: flags.temperature, ...flags.extraBody };
  if (flags.topP !== undefined) extraBody.top_p = flags.topP;
  if (flags.topK !== undefined) extraBody.top_k = flags.topK;
  if (flags.minP !== undefined) extraBody.min_p = flags.minP;
  const apiKey = flags.apiKey ?? readApiKeyEnv();
  const baseUrl = flags.baseUrl ?? `http://${flags.host.includes(":") ? `[${flags.host}]` : flags.host}:${flags.port}`;
  const { compare: _c, apiKey: _k, ...echo } = flags;
  return {
    target: {
      baseUrl,
      endpoint,
      kind,
      model: flags.model ?? null,
      ignoreEos: flags.ignoreEos ?? false,
      extraBody,
      timeoutMs: flags.requestTimeout * 1000,
      ...(apiKey ? { apiKey } : {}),
    },
    datasetName: flags.datasetName,
    dataset: {
      numPrompts: flags.numPrompts,
      seed: flags.seed,
      randomInputLen: flags.randomInputLen,
      randomOutputLen: flags.randomOutputLen,
      randomRangeRatio: flags.randomRangeRatio,
      randomPrefixLen: flags.randomPrefixLen,
      prefixLen: flags.prefixRepetitionPrefixLen,
      suffixLen: flags.prefixRepetitionSuffixLen,
      numPrefixes: flags.prefixRepetitionNumPrefixes,
      prefixOutputLen: flags.prefixRepetitionOutputLen,
      numTurns: flags.multiturnNumTurns,
      mmBaseItemsPerRequest: flags.randomMmBaseItemsPerRequest,
      mmNumItemsRangeRatio: flags.randomMmNumMmItemsRangeRatio,
      imageWidth: flags.imageSize[0],
      imageHeight: flags.imageSize[1],
    },
    requestRates: flags.requestRate,
    maxConcurrencies: flags.maxConcurrency ?? [null],
    burstiness: flags.burstiness,
    numWarmups: flags.numWarmups,
    percentiles: flags.metricPercentiles,
    label: flags.label ?? null,
    metadata,
    saveResult: flags.saveResult ?? false,
    resultDir: flags.resultDir,
    resultFilename: flags.resultFilename ?? null,
    reportFilename: flags.reportFilename ?? null,
    showProgress: !flags.disableTqdm,
    echo: Object.fromEntries(
      Object.entries({ ...echo, dataset_name: flags.datasetName }).map(([k, v]) => [
        k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        Array.isArray(v) ? v.map(String).join(",") : v,
      ]),
    ),
    version: HERD_VERSION,
  };
}

export function register(program: Command): void {
  const cmd = program
    .command("bench")
    .description(
      "benchmark an OpenAI-compatible server (vllm bench serve's flags and metrics): TTFT, TPOT, ITL, throughput; JSON + HTML report",
    );
  addOptions(cmd);
  cmd.action(async (flags: BenchFlags) => {
    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(130);
      process.stderr.write("\nherd bench: interrupted; finishing with the requests done so far (^C again to quit)\n");
      controller.abort();
    };
    process.on("SIGINT", onSigint);
    const io = { out: (s: string) => console.log(s), signal: controller.signal };
    try {
      if (flags.compare) {
        if (flags.compare.length !== 2) throw new InvalidArgumentError("--compare takes exactly two result files: A.json B.json");
        await runCompare(flags.compare[0]!, flags.compare[1]!, flags.reportFilename ?? null, io);
        return;
      }
      await runBench(toConfig(flags), io);
    } finally {
      process.off("SIGINT", onSigint);
    }
  });
}
