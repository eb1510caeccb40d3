/**
 * The one registry of environment variables: nothing else in `src/` reads `process.env`.
 * Every variable is declared here with its meaning (like vLLM's `envs.py`); values are trimmed, and
 * empty values count as unset (like openai-node's `readEnv`).
 *
 * `herd serve` flags map 1:1 onto `HERD_<FLAG_IN_UPPER_SNAKE>` (`--max-num-seqs` ↔ `HERD_MAX_NUM_SEQS`);
 * a flag on the command line wins over its variable.
 * @module
 */

export interface EnvVarSpec {
  readonly name: string;
  readonly description: string;
}

/** Variables with a meaning of their own (not just the mirror of a `herd serve` flag). */
export const ENV_VARS = {
  HERD_API_KEY: "API key clients must send as `Authorization: Bearer <key>` (same as --api-key).",
  VLLM_API_KEY: "Accepted as HERD_API_KEY when that is unset, so vLLM deployments keep working.",
  VLLM_IMAGE_FETCH_TIMEOUT: "Seconds to fetch one image URL, accepted as HERD_MEDIA_FETCH_TIMEOUT when that is unset (vLLM's name).",
  HERD_LOG_LEVEL: "pino log level: fatal, error, warn, info (default), debug, trace, silent.",
  CI: "Set by CI systems; tests treat a missing model fixture as a failure instead of a skip.",
} as const satisfies Record<string, string>;

export type KnownEnvVar = keyof typeof ENV_VARS;

/** The flag-mirroring variable of a kebab-case `herd serve` flag: `max-num-seqs` → `HERD_MAX_NUM_SEQS`. */
export function flagEnvName(flag: string): string {
  return `HERD_${flag.replace(/^-+/, "").replace(/-/g, "_").toUpperCase()}`;
}

function read(name: string): string | undefined {
  const raw = process.env[name];
  if (raw === undefined) return undefined;
  const v = raw.trim();
  return v === "" ? undefined : v;
}

/** A declared variable's trimmed value, or undefined. */
export function readEnv(name: KnownEnvVar): string | undefined {
  return read(name);
}

/** The `HERD_*` value mirroring a serve flag, or undefined. */
export function readFlagEnv(flag: string): string | undefined {
  return read(flagEnvName(flag));
}

/** HERD_API_KEY, else VLLM_API_KEY. */
export function readApiKeyEnv(): string | undefined {
  return read("HERD_API_KEY") ?? read("VLLM_API_KEY");
}

/** True under CI (`CI` set to anything but "false"/"0"). */
export function isCI(): boolean {
  const v = read("CI");
  return v !== undefined && v !== "false" && v !== "0";
}
