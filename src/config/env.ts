/**
 * The one registry of environment variables (like vLLM's `envs.py`): every variable herd reads is
 * declared here once, with its type, default and meaning, and nothing else in `src/` touches
 * `process.env` (scripts/check-layers.ts enforces it). Values are read when asked for, never at
 * import, so a test that stubs a variable sees it; they are trimmed, and empty counts as unset (like
 * openai-node's `readEnv`). docs/serving.md lists them (`renderEnvTable`, kept in sync by a test).
 *
 * Besides these, each `herd serve` flag without an `env` list in its option table
 * (`config/serve-config.ts`) reads `HERD_<FLAG_IN_UPPER_SNAKE>` (`--max-num-seqs` ↔
 * `HERD_MAX_NUM_SEQS`), typed and documented by that table; a flag on the command line wins.
 *
 * A leaf: it imports nothing of herd's, and it is the one module of `config/` every layer may import.
 * @module
 */

export type EnvType = "string" | "int" | "bool";
export type EnvGroup = "serve" | "artifacts" | "compile" | "deploy" | "engine" | "tests";

export interface EnvVarSpec {
  readonly type: EnvType;
  /** Which part of herd reads it (the docs table's order). */
  readonly group: EnvGroup;
  /** What `getEnv` returns while the variable is unset. */
  readonly default?: string | number | boolean;
  /** What unset means, where the reader decides it (shown in the docs). */
  readonly unset?: string;
  /** One line for the docs. */
  readonly doc: string;
}

export const ENV_VARS = {
  HERD_API_KEY: {
    type: "string",
    group: "serve",
    unset: "no authentication",
    doc: "API key clients must send as `Authorization: Bearer <key>` (`--api-key`); `herd bench` sends it",
  },
  VLLM_API_KEY: { type: "string", group: "serve", doc: "read as `HERD_API_KEY` when that is unset (vLLM's name)" },
  HERD_MEDIA_FETCH_TIMEOUT: { type: "int", group: "serve", doc: "seconds to fetch one image URL (`--media-fetch-timeout`)" },
  VLLM_IMAGE_FETCH_TIMEOUT: {
    type: "int",
    group: "serve",
    doc: "read as `HERD_MEDIA_FETCH_TIMEOUT` when that is unset (vLLM's name)",
  },
  HERD_CACHE_DIR: {
    type: "string",
    group: "serve",
    unset: "`~/.cache/herd/models`",
    doc: "folder of the generated embedded model; libmtmd builds go to its `mtmd/` subfolder (unset: `~/.cache/herd/mtmd`)",
  },
  HERD_LIBMTMD: {
    type: "string",
    group: "serve",
    unset: "built on first use",
    doc: "a prebuilt libmtmd.so (image input) to use instead of building one",
  },
  HERD_BUILD_JOBS: { type: "int", group: "serve", default: 2, doc: "parallel compile jobs when libmtmd is built" },
  HERD_ARTIFACTS: {
    type: "string",
    group: "artifacts",
    doc: "artifact root (folder or `s3://bucket/prefix`) bare model names are looked up in (`--artifacts` of serve and compile)",
  },
  AWS_ENDPOINT_URL_S3: { type: "string", group: "artifacts", unset: "AWS", doc: "S3-compatible endpoint (`--s3-endpoint`)" },
  AWS_ENDPOINT_URL: { type: "string", group: "artifacts", doc: "read as `AWS_ENDPOINT_URL_S3` when that is unset" },
  AWS_REGION: { type: "string", group: "artifacts", unset: "`AWS_DEFAULT_REGION`, else `us-east-1`", doc: "S3 region (`--s3-region`)" },
  AWS_DEFAULT_REGION: { type: "string", group: "artifacts", doc: "read as `AWS_REGION` when that is unset" },
  HERD_S3_FORCE_PATH_STYLE: {
    type: "bool",
    group: "artifacts",
    unset: "on with a custom endpoint",
    doc: "path-style S3 URLs (`--s3-force-path-style`)",
  },
  HERD_S3_CHECKSUM: {
    type: "string",
    group: "artifacts",
    unset: "`when_required` with a custom endpoint, else `when_supported`",
    doc: "S3 request checksums (`--s3-checksum`)",
  },
  AWS_ACCESS_KEY_ID: {
    type: "string",
    group: "artifacts",
    unset: "the AWS SDK's chain (`AWS_PROFILE`, web identity, instance and pod roles)",
    doc: "S3 credentials, with `AWS_SECRET_ACCESS_KEY`",
  },
  AWS_SECRET_ACCESS_KEY: { type: "string", group: "artifacts", doc: "S3 credentials, with `AWS_ACCESS_KEY_ID`" },
  AWS_SESSION_TOKEN: { type: "string", group: "artifacts", doc: "S3 session token for temporary credentials" },
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: {
    type: "bool",
    group: "artifacts",
    doc: "set to true by herd when unset: the pinned AWS SDK's notice about future Node versions is noise",
  },
  HF_TOKEN: {
    type: "string",
    group: "compile",
    unset: "`HUGGING_FACE_HUB_TOKEN`, else the token file",
    doc: "Hugging Face token (`--hf-token`)",
  },
  HUGGING_FACE_HUB_TOKEN: { type: "string", group: "compile", doc: "read as `HF_TOKEN` when that is unset (older name)" },
  HF_TOKEN_PATH: { type: "string", group: "compile", unset: "`$HF_HOME/token`", doc: "file holding the Hugging Face token" },
  HF_HOME: { type: "string", group: "compile", unset: "`~/.cache/huggingface`", doc: "Hugging Face home (where the token file is)" },
  HF_ENDPOINT: { type: "string", group: "compile", default: "https://huggingface.co", doc: "Hub endpoint or mirror (`--hf-endpoint`)" },
  KUBECONFIG: {
    type: "string",
    group: "deploy",
    unset: "`~/.kube/config`",
    doc: "kubeconfig files, `:`-separated; the first that exists is used (`--kubeconfig` wins)",
  },
  HOME: { type: "string", group: "deploy", unset: "the user's home directory", doc: "where `~/.kube/config` is looked for" },
  PATH: { type: "string", group: "deploy", doc: "where `kubectl`, `helm` and kubeconfig exec plugins are looked for" },
  GLIBC_TUNABLES: {
    type: "string",
    group: "engine",
    doc: "handed to the engine process with `glibc.malloc.hugetlb=1` added, unless that is set (huge pages for the weights)",
  },
  HERD_ENABLE_TEST_HOOKS: {
    type: "bool",
    group: "engine",
    default: false,
    doc: "lets tests make the engine process abort like a failed llama.cpp assert",
  },
  CI: { type: "string", group: "tests", doc: "set by CI systems: tests fail on a missing model fixture instead of skipping" },
  HERD_UPDATE_GOLDENS: { type: "bool", group: "tests", default: false, doc: "chart tests rewrite their golden renders" },
  HERD_SOAK_HOSTILE_RUNS: { type: "bool", group: "tests", default: true, doc: "the soak test includes its long hostile-input runs" },
  HERD_UNIT_TESTS: {
    type: "bool",
    group: "tests",
    default: false,
    doc: "set by the `unit` vitest project (`npm run test:unit`): loading a model, llama.cpp or a shared fixture throws",
  },
} as const satisfies Record<string, EnvVarSpec>;

type Specs = typeof ENV_VARS;
export type EnvName = keyof Specs;
type TypeOf<S> = S extends { type: "int" } ? number : S extends { type: "bool" } ? boolean : string;
/** `getEnv(name)`'s type: the declared type, possibly undefined unless the variable has a default. */
export type EnvValue<N extends EnvName> = Specs[N] extends { default: unknown } ? TypeOf<Specs[N]> : TypeOf<Specs[N]> | undefined;

/** Where variables are read from: the process environment, or a test's own. */
export type EnvSource = Readonly<Record<string, string | undefined>>;

/** A variable holds a value of the wrong type. */
export class EnvError extends Error {
  override readonly name = "EnvError";
}

function raw(name: string, source: EnvSource): string | undefined {
  const v = source[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** The process's environment, whole: to hand to a child process, or to functions that take an `EnvSource`. */
export function processEnv(): EnvSource {
  return process.env;
}

/** A declared variable's trimmed text, or undefined when unset or empty. */
export function readEnv(name: EnvName, source: EnvSource = process.env): string | undefined {
  return raw(name, source);
}

/** "1", "true", "yes", "on" / "0", "false", "no", "off" (any case); undefined otherwise. */
function parseBool(s: string): boolean | undefined {
  if (/^(1|true|yes|on)$/i.test(s)) return true;
  if (/^(0|false|no|off)$/i.test(s)) return false;
  return undefined;
}

/** A declared variable's value, typed as declared; its default (or undefined) while unset. Throws EnvError on a malformed value. */
export function getEnv<N extends EnvName>(name: N, source: EnvSource = process.env): EnvValue<N> {
  const spec: EnvVarSpec = ENV_VARS[name];
  const v = raw(name, source);
  if (v === undefined) return spec.default as EnvValue<N>;
  switch (spec.type) {
    case "string":
      return v as EnvValue<N>;
    case "int":
      if (!/^-?\d+$/.test(v)) throw new EnvError(`${name} must be an integer (got ${JSON.stringify(v)})`);
      return Number(v) as EnvValue<N>;
    case "bool": {
      const b = parseBool(v);
      if (b === undefined) throw new EnvError(`${name} must be true or false (got ${JSON.stringify(v)})`);
      return b as EnvValue<N>;
    }
    default:
      return spec.type satisfies never;
  }
}

/** Sets a declared variable in this process's environment unless it is set already. */
export function setEnvDefault(name: EnvName, value: string): void {
  process.env[name] ??= value;
}

/** The variable mirroring a kebab-case `herd serve` flag: `max-num-seqs` → `HERD_MAX_NUM_SEQS`. */
export function flagEnvName(flag: string): string {
  return `HERD_${flag.replace(/^-+/, "").replace(/-/g, "_").toUpperCase()}`;
}

/** The trimmed `HERD_<FLAG>` text of a serve flag, or undefined. */
export function readFlagEnv(flag: string, source: EnvSource = process.env): string | undefined {
  return raw(flagEnvName(flag), source);
}

/** HERD_API_KEY, else VLLM_API_KEY. */
export function readApiKeyEnv(): string | undefined {
  return getEnv("HERD_API_KEY") ?? getEnv("VLLM_API_KEY");
}

/** True under CI (`CI` set to anything but "false"/"0"). */
export function isCI(): boolean {
  const v = getEnv("CI");
  return v !== undefined && v !== "false" && v !== "0";
}

const GROUP_TITLES: Record<EnvGroup, string> = {
  serve: "serve",
  artifacts: "S3, artifacts",
  compile: "compile",
  deploy: "deploy, doctor",
  engine: "engine",
  tests: "tests",
};

/** The markdown table of every declared variable, as docs/serving.md has it. */
export function renderEnvTable(): string {
  const rows = ["| variable | used by | type | unset | meaning |", "|---|---|---|---|---|"];
  const specs = Object.entries(ENV_VARS) as [EnvName, EnvVarSpec][];
  for (const group of Object.keys(GROUP_TITLES) as EnvGroup[]) {
    for (const [name, spec] of specs.filter(([, s]) => s.group === group)) {
      const unset = spec.default !== undefined ? `\`${String(spec.default)}\`` : (spec.unset ?? "");
      rows.push(`| \`${name}\` | ${GROUP_TITLES[group]} | ${spec.type} | ${unset} | ${spec.doc} |`);
    }
  }
  return rows.join("\n");
}
