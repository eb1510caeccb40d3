/**
 * Lint for the dependency direction of src/ (house style §6.2): an arrow means "may import".
 *
 *   cli → everything          server → engine (client, types, sampling), model, config, multimodal, common
 *   engine → native (runner/ only), model, common     model → native, common
 *   config → engine (types, config), common, compile/manifest.ts, storage/s3-settings.ts (light
 *            modules: serve's option table names their choices and defaults)
 *   native, common → nothing of ours but config/env.ts
 *   planner → model, common (pure functions, no I/O)
 *   multimodal → engine (types only), common (image fetch, decode, Llama 4 tiling and prompt tokens)
 *   bench → common (a load generator that speaks HTTP only: no engine, model or native code)
 *   compile → model, storage, native (quantize, version), common      storage → common
 *
 * The environment: `config/env.ts` is the one registry of environment variables and a leaf (it imports
 * nothing of ours); every layer may import it, and no other module of `config/` unless the table says
 * so. `process.env` appears in no other non-test file of src/ (comments included, so that
 * `grep -rn process.env src` finds the registry only).
 *
 * Run: npx tsx scripts/check-layers.ts [SRC_DIR] (part of `npm test`; SRC_DIR defaults to src/, tests
 * pass a tree of their own). Exits 1 and lists every violation.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(process.argv[2] ?? resolve(import.meta.dirname, "../src"));
const allowed: Record<string, string[]> = {
  cli: ["*"],
  server: ["engine", "model", "config", "common", "server", "multimodal"],
  engine: ["engine", "native", "model", "common"],
  model: ["model", "native", "common"],
  config: ["config", "engine", "common", "compile", "storage"],
  planner: ["planner", "model", "common"],
  multimodal: ["multimodal", "engine", "common"],
  bench: ["bench", "common"],
  compile: ["compile", "model", "storage", "native", "common"],
  storage: ["storage", "common"],
  native: ["native"],
  common: ["common"],
};
/** The environment registry: importable from every layer, itself importing nothing of ours. */
const ENV_REGISTRY = "config/env.ts";
/** `process.env`, `process["env"]`, `const { env } = process`. */
const PROCESS_ENV = /\bprocess\s*(?:\.\s*env\b|\[\s*["'`]env["'`]\s*\])|\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/;

/** config/ reaches into compile/ and storage/ only for these light modules (no AWS SDK, no llama.cpp). */
const configReaches = [/^compile\/manifest\.[jt]s$/, /^storage\/s3-settings\.[jt]s$/];

/** Inside engine/, only the runner talks to llama.cpp (and the child-process entry installs its log). */
const nativeInEngine = [/^engine\/runner\/llama-/, /^engine\/client\/(engine-process|in-process-client)\.ts$/];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts") && !p.endsWith(".test.ts")) yield p;
  }
}

const problems: string[] = [];
for (const file of files(SRC)) {
  const rel = relative(SRC, file);
  const layer = rel.split("/")[0]!;
  const rules = allowed[layer];
  if (!rules) {
    problems.push(`${rel}: src/${layer}/ is not a known layer (add it to scripts/check-layers.ts and the README)`);
    continue;
  }
  const text = readFileSync(file, "utf8");
  if (rel !== ENV_REGISTRY) {
    const line = text.split("\n").findIndex((l) => PROCESS_ENV.test(l));
    if (line >= 0) problems.push(`${rel}:${line + 1}: reads process.env (declare the variable in src/${ENV_REGISTRY} and read it there)`);
  }
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+["'](\.[^"']+)["']/gm)) {
    const target = relative(SRC, resolve(dirname(file), m[1]!));
    const targetLayer = target.split("/")[0]!;
    if (target.startsWith("..")) continue;
    if (rel === ENV_REGISTRY) {
      problems.push(`${rel}: imports ${target} (the environment registry is a leaf: it imports nothing of ours)`);
      continue;
    }
    if (target.replace(/\.js$/, ".ts") === ENV_REGISTRY) continue;
    if (!rules.includes("*") && !rules.includes(targetLayer))
      problems.push(`${rel}: imports ${target} (${layer} may not import ${targetLayer})`);
    if (layer === "config" && (targetLayer === "compile" || targetLayer === "storage") && !configReaches.some((re) => re.test(target))) {
      problems.push(`${rel}: imports ${target} (config/ may import only compile/manifest.ts and storage/s3-settings.ts there)`);
    }
    if (layer === "engine" && targetLayer === "native" && !nativeInEngine.some((re) => re.test(rel))) {
      problems.push(`${rel}: imports ${target} (only engine/runner/llama-* may touch llama.cpp)`);
    }
  }
}
if (problems.length > 0) {
  console.error(`layer check: ${problems.length} violation(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("layer check: ok");
