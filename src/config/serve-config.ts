/**
 * `herd serve` configuration: one table of options (flag name = vLLM's where vLLM has one), resolved
 * from command-line flags, then `HERD_*` environment variables, then `SERVE_DEFAULTS`, into a frozen
 * `ServeConfig`. The CLI registers its flags from the same table and shows the same defaults in
 * --help, so flags, env vars, config keys and defaults cannot drift apart. Engine settings default to
 * the engine's own (`ENGINE_DEFAULTS`, `DEFAULT_MAX_MODEL_LEN`).
 * @module
 */
import { isIP } from "node:net";
import { z } from "zod";
import { DEFAULT_MAX_MODEL_LEN } from "../common/serving-defaults.js";
import { VERIFY_MODES, type VerifyMode } from "../compile/manifest.js";
import { CACHE_FLOOR_CELLS, DEFAULT_KV_CACHE_CAP, ENGINE_DEFAULTS } from "../engine/config.js";
import { DEFAULT_BLOCK_SIZE } from "../engine/kv/block-tracker.js";
import { LOAD_MODES, type LoadMode } from "../engine/types.js";
import {
  DEFAULT_DOWNLOAD_CONCURRENCY,
  DEFAULT_PART_BYTES,
  DEFAULT_S3_REGION,
  S3_CHECKSUM_MODES,
  type S3ChecksumMode,
} from "../storage/s3-settings.js";
import { type EnvName, flagEnvName, readEnv, readFlagEnv } from "./env.js";

export type Device = "cpu" | "cuda" | "vulkan";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface ServeConfig {
  /** GGUF path; null = the embedded random-weight Llama 4 model. */
  readonly model: string | null;
  /** Vision projector GGUF (mmproj) for image input; null = none (or the artifact's / embedded model's own). */
  readonly mmproj: string | null;
  /** Names clients may put in `model`; the first is reported. Empty = derived from the model file. */
  readonly servedModelNames: readonly string[];
  /** How much of an artifact folder is checked against its manifest before loading. */
  readonly verify: VerifyMode;
  /** Folder or s3://bucket/prefix that a bare model name is looked up in; null = none. */
  readonly artifacts: string | null;
  /** Where s3:// artifacts are pulled to; null = `~/.cache/herd/artifacts`. */
  readonly artifactCache: string | null;
  /** S3 settings for s3:// models (`storage/s3-settings.ts`); null = from the environment, else its default. */
  readonly s3Endpoint: string | null;
  readonly s3Region: string | null;
  readonly s3ForcePathStyle: boolean | null;
  readonly s3Checksum: S3ChecksumMode | null;
  /** Ranged-download part size of a pull, MiB. */
  readonly partSize: number;
  /** Parallel ranged downloads of a pull. */
  readonly concurrency: number;
  /** Progress bars while pulling and verifying the model. */
  readonly progress: boolean;
  readonly host: string;
  readonly port: number;
  /** null = no authentication. */
  readonly apiKey: string | null;
  /** CORS origins; empty = CORS off. `*` allows any origin. */
  readonly allowedOrigins: readonly string[];
  /** Engine settings. null = derived by the engine from the model (`finalizeEngineConfig`). */
  readonly maxModelLen: number | null;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  /** Total KV cells; null = derived from max-model-len × max-num-seqs by the engine. */
  readonly kvCacheTokens: number | null;
  readonly maxWaiting: number;
  /** null = all cores. */
  readonly threads: number | null;
  readonly device: Device;
  readonly nGpuLayers: number;
  /** How llama.cpp loads the weights (llama-server's --load-mode). */
  readonly loadMode: LoadMode;
  readonly enablePrefixCaching: boolean;
  /** Cap on KV cells held by finished requests' cached prefixes while others decode; null = auto. */
  readonly maxCachedTokens: number | null;
  /** Tokens per block in KV-cache events and `vllm:cache_config_info` (vLLM's --block-size); herd's KV itself is token cells. */
  readonly blockSize: number;
  /** KV-cache event publishing (vLLM's --kv-events-config); null = off. */
  readonly kvEventsConfig: KvEventsConfig | null;
  /** Upper bound of `top_logprobs` / completions `logprobs` (vLLM's max_logprobs). */
  readonly maxLogprobs: number;
  /** Upper bound of `n`. */
  readonly maxN: number;
  /** Upper bound of stop strings per request. */
  readonly maxStopStrings: number;
  /** Streamed outputs coalesced into one write (vLLM's --stream-interval); 1 = every token at once. */
  readonly streamInterval: number;
  /** Request bodies above this get 413. */
  readonly maxRequestBodyBytes: number;
  readonly disableLogRequests: boolean;
  readonly logLevel: LogLevel;
  /** SIGTERM: how long in-flight requests may take to finish before the process exits anyway. */
  readonly shutdownTimeoutMs: number;
  /** Run the engine inside the server process instead of a child process (no crash isolation). */
  readonly inProcessEngine: boolean;
  /** Skip the 1-token warmup request at start (readiness then waits for the first real token). */
  readonly skipWarmup: boolean;
  /** Images per request (vLLM's --limit-mm-per-prompt image=N); 0 = image input off. */
  readonly limitMmPerPrompt: number;
  /** Largest image file accepted (data URL, download or local file). */
  readonly maxImageBytes: number;
  /** Largest width × height accepted, checked before decoding (decompression bombs). */
  readonly maxImagePixels: number;
  /** Deadline for fetching one image, redirects included (VLLM_IMAGE_FETCH_TIMEOUT is also read). */
  readonly mediaFetchTimeoutMs: number;
  /** Redirects followed when fetching an image; each hop is re-checked. */
  readonly mediaMaxRedirects: number;
  /** Hosts image URLs may name (and their subdomains); empty = any public host. */
  readonly allowedMediaDomains: readonly string[];
  /** CIDRs image fetches may reach even though they are private/loopback/link-local. */
  readonly allowedMediaNetworks: readonly string[];
  /** Directory file:// image URLs may read from; null = file URLs refused. */
  readonly allowedLocalMediaPath: string | null;
}

/** A flag or env var has a malformed value. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    message: string,
    readonly flag: string,
  ) {
    super(message);
  }
}

type Kind = "string" | "int" | "bool" | "list" | "choice" | "mm-limit" | "kv-events";

export interface ServeOption {
  /** kebab-case flag without dashes. */
  readonly flag: string;
  /**
   * The variables read, in order, when the flag is not given: declared ones (`config/env.ts`). Default:
   * the flag's own `HERD_<UPPER_SNAKE>`, declared by this table.
   */
  readonly env?: readonly EnvName[];
  readonly key: keyof ServeConfig;
  readonly kind: Kind;
  readonly description: string;
  readonly choices?: readonly string[];
  /**
   * What the default means, for --help, where it is not a plain value (null, empty, computed). Otherwise
   * --help shows the value in `SERVE_DEFAULTS` (`optionDefaultText`).
   */
  readonly defaultText?: string;
  /** Bounds of an int option. */
  readonly min?: number;
  readonly max?: number;
  /** The value's name in --help (`--flag <arg>`); default `n` for ints, else `value`. */
  readonly arg?: string;
  /** A bool option also gets `--no-<flag>`, described so. */
  readonly negate?: string;
  /** The flag is in seconds, the config key in milliseconds. */
  readonly seconds?: true;
  /** A byte count: --help adds it in MiB. */
  readonly bytes?: true;
}

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const DEVICES: readonly Device[] = ["cpu", "cuda", "vulkan"];

/** The S3 and transfer flags: `herd serve`'s for s3:// models, shared with `herd compile` and `herd artifacts`. */
export const S3_OPTIONS: readonly ServeOption[] = [
  {
    flag: "s3-endpoint",
    key: "s3Endpoint",
    kind: "string",
    env: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
    arg: "url",
    description: "S3-compatible endpoint",
    defaultText: "AWS",
  },
  {
    flag: "s3-region",
    key: "s3Region",
    kind: "string",
    env: ["AWS_REGION", "AWS_DEFAULT_REGION"],
    arg: "region",
    description: "S3 region",
    defaultText: DEFAULT_S3_REGION,
  },
  {
    flag: "s3-force-path-style",
    key: "s3ForcePathStyle",
    kind: "bool",
    env: ["HERD_S3_FORCE_PATH_STYLE"],
    description: "path-style S3 URLs",
    defaultText: "on with a custom endpoint",
  },
  {
    flag: "s3-checksum",
    key: "s3Checksum",
    kind: "choice",
    choices: S3_CHECKSUM_MODES,
    env: ["HERD_S3_CHECKSUM"],
    arg: "mode",
    description: "request checksums: when_required suits S3-compatible stores, when_supported is the AWS SDK default",
    defaultText: "when_required with a custom endpoint, else when_supported",
  },
  {
    flag: "part-size",
    key: "partSize",
    kind: "int",
    arg: "MiB",
    min: 1,
    env: [],
    description: "multipart / ranged-download part size in MiB",
  },
  { flag: "concurrency", key: "concurrency", kind: "int", min: 1, max: 64, env: [], description: "parallel ranged downloads" },
  { flag: "progress", key: "progress", kind: "bool", env: [], description: "progress bars", negate: "no progress bars" },
];

export const SERVE_OPTIONS: readonly ServeOption[] = [
  {
    flag: "model",
    key: "model",
    kind: "string",
    description: "GGUF file to serve",
    defaultText: "the embedded random-weight Llama 4 model",
  },
  {
    flag: "mmproj",
    key: "mmproj",
    kind: "string",
    description: "vision projector GGUF (llama-server's --mmproj) for image input",
    defaultText: "none; an artifact folder's or the embedded model's own",
  },
  {
    flag: "served-model-name",
    key: "servedModelNames",
    kind: "list",
    description: "model name(s) the API answers to (comma-separated); the first is reported",
    defaultText: "the model file name",
  },
  {
    flag: "verify",
    key: "verify",
    kind: "choice",
    choices: VERIFY_MODES,
    arg: "mode",
    description: "check an artifact folder against its manifest before loading: full (sha256), size, none",
  },
  {
    flag: "artifacts",
    key: "artifacts",
    kind: "string",
    env: ["HERD_ARTIFACTS"],
    arg: "root",
    description: "artifact root (folder or s3://bucket/prefix) that a bare --model name is looked up in",
  },
  {
    flag: "artifact-cache",
    key: "artifactCache",
    kind: "string",
    arg: "dir",
    description: "where s3:// artifacts are pulled to",
    defaultText: "~/.cache/herd/artifacts",
  },
  ...S3_OPTIONS,
  { flag: "host", key: "host", kind: "string", description: "interface to listen on" },
  { flag: "port", key: "port", kind: "int", min: 0, description: "port to listen on (0 = any free port)" },
  {
    flag: "api-key",
    key: "apiKey",
    kind: "string",
    env: ["HERD_API_KEY", "VLLM_API_KEY"],
    description: "require `Authorization: Bearer <key>` on every route but /health and /ready",
  },
  {
    flag: "allowed-origins",
    key: "allowedOrigins",
    kind: "list",
    description: "CORS origins (comma-separated, `*` for any)",
    defaultText: "CORS off",
  },
  {
    flag: "max-model-len",
    key: "maxModelLen",
    kind: "int",
    min: 16,
    description: "maximum tokens (prompt + output) per sequence",
    defaultText: `the model's training context, capped at ${DEFAULT_MAX_MODEL_LEN}`,
  },
  {
    flag: "max-num-seqs",
    key: "maxNumSeqs",
    kind: "int",
    min: 1,
    description: "maximum concurrently running sequences",
  },
  {
    flag: "max-num-batched-tokens",
    key: "maxNumBatchedTokens",
    kind: "int",
    min: 1,
    description: "token budget of one engine step",
  },
  {
    flag: "kv-cache-tokens",
    key: "kvCacheTokens",
    kind: "int",
    min: 16,
    description: "total KV cache cells",
    defaultText: `max-model-len × max-num-seqs, capped at max(max-model-len, ${DEFAULT_KV_CACHE_CAP})`,
  },
  {
    flag: "max-waiting",
    key: "maxWaiting",
    kind: "int",
    min: 0,
    description: "queued requests beyond which new ones get 429",
  },
  { flag: "threads", key: "threads", kind: "int", min: 1, description: "CPU threads for llama.cpp", defaultText: "all cores" },
  { flag: "device", key: "device", kind: "choice", choices: DEVICES, description: "compute device" },
  {
    flag: "n-gpu-layers",
    key: "nGpuLayers",
    kind: "int",
    min: -1,
    description: "layers to offload when --device is not cpu (-1 = all)",
  },
  {
    flag: "load-mode",
    key: "loadMode",
    kind: "choice",
    choices: LOAD_MODES,
    description:
      "how the weights are loaded (llama-server's --load-mode): none reads them into the engine's memory, on transparent huge pages; " +
      "mmap maps the file (shared page cache, quicker start); mlock, mmap+mlock and dio as in llama.cpp",
    defaultText: `${ENGINE_DEFAULTS.loadMode}: none on the CPU, llama.cpp's choice (mmap) on a GPU`,
  },
  {
    flag: "enable-prefix-caching",
    key: "enablePrefixCaching",
    kind: "bool",
    description: "reuse KV of shared prompt prefixes",
    negate: "disable prefix caching",
  },
  {
    flag: "max-cached-tokens",
    key: "maxCachedTokens",
    kind: "int",
    min: 0,
    description:
      "KV cells finished requests' prefixes may keep while others decode, prefixes never reused an eighth of it " +
      "(llama.cpp attends over every cell in use, so cached cells slow each decode step)",
    defaultText:
      `as many as the running requests use, at least min(max-model-len, ${CACHE_FLOOR_CELLS}), ` + "times the share of idle sequence slots",
  },
  {
    flag: "block-size",
    key: "blockSize",
    kind: "int",
    min: 1,
    max: 4096,
    description: "tokens per block in KV-cache events and vllm:cache_config_info (vLLM's --block-size; herd's KV is token cells)",
  },
  {
    flag: "kv-events-config",
    key: "kvEventsConfig",
    kind: "kv-events",
    arg: "json",
    description:
      'publish KV-cache events in vLLM\'s format (vLLM\'s flag): {"enable_kv_cache_events": true, "publisher": "zmq", ' +
      '"endpoint": "tcp://*:5557", "topic": "kv-events"}',
    defaultText: "off",
  },
  {
    flag: "max-logprobs",
    key: "maxLogprobs",
    kind: "int",
    min: 0,
    description: "upper bound of top_logprobs / logprobs",
  },
  { flag: "max-n", key: "maxN", kind: "int", min: 1, description: "upper bound of n" },
  {
    flag: "max-stop-strings",
    key: "maxStopStrings",
    kind: "int",
    min: 1,
    description: "upper bound of stop strings per request",
  },
  {
    flag: "stream-interval",
    key: "streamInterval",
    kind: "int",
    min: 1,
    description:
      "engine steps per SSE write: 1 sends every token at once; larger values batch tokens " +
      "(the first token and the last are never held back), trading smoothness for less per-token overhead",
  },
  {
    flag: "max-request-body-bytes",
    key: "maxRequestBodyBytes",
    kind: "int",
    bytes: true,
    min: 1024,
    description: "request bodies above this get 413",
  },
  {
    flag: "disable-log-requests",
    key: "disableLogRequests",
    kind: "bool",
    description: "do not log one line per request",
  },
  { flag: "log-level", key: "logLevel", kind: "choice", choices: LOG_LEVELS, description: "log level" },
  {
    flag: "shutdown-timeout",
    key: "shutdownTimeoutMs",
    kind: "int",
    seconds: true,
    min: 0,
    description: "seconds in-flight requests get to finish after SIGTERM",
  },
  {
    flag: "in-process-engine",
    key: "inProcessEngine",
    kind: "bool",
    description: "run the engine in the server process (no crash isolation; for debugging)",
  },
  { flag: "skip-warmup", key: "skipWarmup", kind: "bool", description: "skip the 1-token warmup request at start" },
  {
    flag: "limit-mm-per-prompt",
    key: "limitMmPerPrompt",
    kind: "mm-limit",
    description: 'images per request, vLLM\'s syntax: image=5 or {"image":5} (0 = no image input)',
  },
  {
    flag: "max-image-bytes",
    key: "maxImageBytes",
    kind: "int",
    bytes: true,
    min: 1,
    description: "largest image file accepted (data URL, download or file)",
  },
  {
    flag: "max-image-pixels",
    key: "maxImagePixels",
    kind: "int",
    min: 1,
    description: "largest width × height accepted, checked before decoding (decompression bombs)",
  },
  {
    flag: "media-fetch-timeout",
    key: "mediaFetchTimeoutMs",
    kind: "int",
    seconds: true,
    min: 1,
    env: ["HERD_MEDIA_FETCH_TIMEOUT", "VLLM_IMAGE_FETCH_TIMEOUT"],
    description: "seconds to fetch one image URL, redirects included",
  },
  {
    flag: "media-max-redirects",
    key: "mediaMaxRedirects",
    kind: "int",
    min: 0,
    description: "redirects followed when fetching an image (each hop re-checked; 0 = none)",
  },
  {
    flag: "allowed-media-domains",
    key: "allowedMediaDomains",
    kind: "list",
    description: "hosts image URLs may name, with their subdomains (comma-separated)",
    defaultText: "any public host",
  },
  {
    flag: "allowed-media-networks",
    key: "allowedMediaNetworks",
    kind: "list",
    description: "CIDRs image fetches may reach although private, loopback or link-local (comma-separated, e.g. 10.0.0.0/8)",
    defaultText: "none: such addresses are refused",
  },
  {
    flag: "allowed-local-media-path",
    key: "allowedLocalMediaPath",
    kind: "string",
    description: "directory file:// image URLs may read from",
    defaultText: "file URLs refused",
  },
];

/** What `herd serve` does when neither a flag nor its variable says otherwise; --help shows these. */
export const SERVE_DEFAULTS: ServeConfig = Object.freeze({
  model: null,
  mmproj: null,
  servedModelNames: [],
  verify: "full",
  artifacts: null,
  artifactCache: null,
  s3Endpoint: null,
  s3Region: null,
  s3ForcePathStyle: null,
  s3Checksum: null,
  partSize: DEFAULT_PART_BYTES / (1024 * 1024),
  concurrency: DEFAULT_DOWNLOAD_CONCURRENCY,
  progress: true,
  host: "0.0.0.0",
  port: 8000,
  apiKey: null,
  allowedOrigins: [],
  maxModelLen: null,
  maxNumSeqs: ENGINE_DEFAULTS.maxNumSeqs,
  maxNumBatchedTokens: ENGINE_DEFAULTS.maxNumBatchedTokens,
  kvCacheTokens: null,
  maxWaiting: ENGINE_DEFAULTS.maxWaiting,
  threads: null,
  device: ENGINE_DEFAULTS.device,
  nGpuLayers: ENGINE_DEFAULTS.nGpuLayers,
  loadMode: ENGINE_DEFAULTS.loadMode,
  enablePrefixCaching: ENGINE_DEFAULTS.enablePrefixCaching,
  maxCachedTokens: null,
  blockSize: DEFAULT_BLOCK_SIZE,
  kvEventsConfig: null,
  maxLogprobs: 20,
  maxN: 16,
  maxStopStrings: 16,
  streamInterval: 1,
  maxRequestBodyBytes: 8 * 1024 * 1024,
  disableLogRequests: false,
  logLevel: "info",
  shutdownTimeoutMs: 30_000,
  inProcessEngine: false,
  skipWarmup: false,
  limitMmPerPrompt: 5,
  maxImageBytes: 20 * 1024 * 1024,
  maxImagePixels: 25_000_000,
  mediaFetchTimeoutMs: 5000,
  mediaMaxRedirects: 5,
  allowedMediaDomains: [],
  allowedMediaNetworks: [],
  allowedLocalMediaPath: null,
});

/** The default --help shows for `opt`: its `defaultText`, else its value in `SERVE_DEFAULTS`; undefined = none. */
export function optionDefaultText(opt: ServeOption): string | undefined {
  if (opt.defaultText !== undefined) return opt.defaultText;
  const value = SERVE_DEFAULTS[opt.key];
  if (value === null || (Array.isArray(value) && value.length === 0)) return undefined;
  if (typeof value !== "number") return String(value);
  if (opt.seconds) return String(value / 1000);
  if (opt.bytes) return `${value} (${value / (1024 * 1024)} MiB)`;
  if (opt.kind === "mm-limit") return `image=${value}`;
  return String(value);
}

/** vLLM's `--limit-mm-per-prompt`: `image=5`, `image=5,video=0` or `{"image": 5}` → the image limit. */
export function parseMmLimit(raw: string): number | null {
  const s = raw.trim();
  let entries: Array<[string, unknown]>;
  if (s.startsWith("{")) {
    try {
      const obj: unknown = JSON.parse(s);
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return null;
      entries = Object.entries(obj);
    } catch {
      return null;
    }
  } else {
    entries = s.split(",").map((kv) => {
      const [k = "", v = ""] = kv.split("=");
      return [k.trim(), /^\d+$/.test(v.trim()) ? Number(v.trim()) : null];
    });
  }
  let image: number | null = null;
  for (const [k, v] of entries) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return null;
    if (k === "image") image = v;
    else if (!["video", "audio"].includes(k)) return null;
  }
  return image;
}

/** Raw option values as commander gives them (strings, booleans, undefined when not given). */
export type RawServeOptions = Partial<Record<keyof ServeConfig, string | boolean | undefined>>;

/** The variables a serve option reads when its flag is not given. */
export function optionEnvNames(opt: ServeOption): readonly string[] {
  return opt.env ?? [flagEnvName(opt.flag)];
}

function fail(opt: ServeOption, raw: string | boolean, expected: string): never {
  const env = optionEnvNames(opt);
  const via = env.length > 0 ? ` (or ${env.join(", ")})` : "";
  throw new ConfigError(`--${opt.flag}${via} must be ${expected} (got ${JSON.stringify(raw)})`, opt.flag);
}

function parseValue(opt: ServeOption, raw: string | boolean): unknown {
  switch (opt.kind) {
    case "string":
      if (typeof raw !== "string" || raw === "") fail(opt, raw, "a non-empty string");
      return raw;
    case "int": {
      const s = String(raw).trim();
      if (!/^-?\d+$/.test(s)) fail(opt, raw, "an integer");
      const n = Number(s);
      if (!Number.isSafeInteger(n) || (opt.min !== undefined && n < opt.min) || (opt.max !== undefined && n > opt.max)) {
        fail(opt, raw, opt.max === undefined ? `an integer ≥ ${opt.min ?? "-∞"}` : `an integer in ${opt.min ?? "-∞"}..${opt.max}`);
      }
      return n;
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      const s = raw.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
      return fail(opt, raw, "true or false");
    }
    case "list": {
      if (typeof raw !== "string") fail(opt, raw, "a comma-separated list");
      const items = raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      if (items.length === 0) fail(opt, raw, "a non-empty comma-separated list");
      return items;
    }
    case "choice":
      if (typeof raw !== "string" || !(opt.choices ?? []).includes(raw)) fail(opt, raw, `one of ${(opt.choices ?? []).join(", ")}`);
      return raw;
    case "mm-limit": {
      const n = typeof raw === "string" ? parseMmLimit(raw) : null;
      if (n === null) fail(opt, raw, 'image=N or {"image": N} with N ≥ 0');
      return n;
    }
    case "kv-events": {
      const parsed = typeof raw === "string" ? parseKvEventsConfig(raw) : null;
      if (parsed === undefined || parsed === null)
        fail(opt, raw, 'vLLM\'s KV-events JSON, e.g. {"enable_kv_cache_events": true, "publisher": "zmq"}');
      return parsed === false ? null : parsed;
    }
    default:
      return opt.kind satisfies never;
  }
}

/**
 * Flags win over `HERD_*` env vars, which win over defaults. Throws ConfigError (naming the flag) on a
 * malformed value.
 */
export function resolveServeConfig(flags: RawServeOptions = {}, opts: { useEnv?: boolean } = {}): ServeConfig {
  const useEnv = opts.useEnv ?? true;
  const out: Record<string, unknown> = { ...SERVE_DEFAULTS };
  for (const opt of SERVE_OPTIONS) {
    let raw: string | boolean | undefined = flags[opt.key];
    if (raw === undefined && useEnv) {
      raw = opt.env ? opt.env.map((name) => readEnv(name)).find((v) => v !== undefined) : readFlagEnv(opt.flag);
    }
    if (raw === undefined) continue;
    let value = parseValue(opt, raw);
    if (opt.seconds) value = (value as number) * 1000;
    out[opt.key] = value;
  }
  const config = out as unknown as ServeConfig;
  for (const net of config.allowedMediaNetworks) {
    const [addr = "", len, extra] = net.split("/");
    const bits = isIP(addr) === 4 ? 32 : isIP(addr) === 6 ? 128 : 0;
    const prefix = len === undefined ? bits : /^\d{1,3}$/.test(len) ? Number(len) : -1;
    if (bits === 0 || extra !== undefined || prefix < 0 || prefix > bits) {
      throw new ConfigError(
        `--allowed-media-networks (or ${flagEnvName("allowed-media-networks")}) ` +
          `entries must be IP addresses or CIDRs (got ${JSON.stringify(net)})`,
        "allowed-media-networks",
      );
    }
  }
  return Object.freeze({
    ...config,
    servedModelNames: Object.freeze([...config.servedModelNames]),
    allowedOrigins: Object.freeze([...config.allowedOrigins]),
    allowedMediaDomains: Object.freeze([...config.allowedMediaDomains]),
    allowedMediaNetworks: Object.freeze([...config.allowedMediaNetworks]),
  });
}

/** The config as it is logged at startup: the API key is redacted. */
export function describeServeConfig(config: ServeConfig): Record<string, unknown> {
  return { ...config, apiKey: config.apiKey === null ? null : "<redacted>" };
}

/** The `--kv-events-config` fields herd reads (vLLM's `KVEventsConfig`); others vLLM has are accepted and ignored. */
export interface KvEventsConfig {
  /** `tcp://*:5557` binds; an address without a wildcard connects (vLLM's rule). */
  readonly endpoint: string;
  readonly topic: string;
}

const KV_EVENTS_SCHEMA = z
  .object({
    enable_kv_cache_events: z.boolean().default(false),
    publisher: z.enum(["zmq", "null"]).default("zmq"),
    endpoint: z.string().min(1).default("tcp://*:5557"),
    topic: z.string().default(""),
    replay_endpoint: z.string().nullable().optional(),
    buffer_steps: z.number().int().optional(),
    hwm: z.number().int().optional(),
    max_queue_size: z.number().int().optional(),
  })
  .strict();

/**
 * vLLM's `--kv-events-config` JSON → the publisher's settings; false when it leaves events off
 * (`enable_kv_cache_events` false or publisher "null"), undefined when malformed. herd has no replay socket.
 */
export function parseKvEventsConfig(raw: string): KvEventsConfig | false | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const r = KV_EVENTS_SCHEMA.safeParse(json);
  if (!r.success) return undefined;
  if (!r.data.enable_kv_cache_events || r.data.publisher === "null") return false;
  return Object.freeze({ endpoint: r.data.endpoint, topic: r.data.topic });
}
