/**
 * Lint for the dependency direction of src/ (house style §6.2): an arrow means "may import".
 *
 *   cli → everything          server → protocol, engine (client, types, sampling), model, config, multimodal, common
 *   engine → native (runner/ only), model, common     model → native, common
 *   config → engine (types, config), common, compile/manifest.ts, storage/s3-settings.ts (light
 *            modules: serve's option table names their choices and defaults)
 *   native, common → nothing of ours but config/env.ts
 *   planner → model, common (pure functions, no I/O)
 *   multimodal → engine (types only), common (image fetch, decode, Llama 4 tiling and prompt tokens)
 *   bench → protocol, common (a load generator that speaks HTTP only: no engine, model or native code)
 *   router → protocol, common (a reverse proxy in front of workers, over HTTP only: no engine or model)
 *   protocol → nothing of ours (the OpenAI wire shapes and the SSE reader, for server, bench and web/)
 *   compile → model, storage, native (quantize, version), common      storage → common
 *
 * Only src/native/ may import koffi (tests included): everything else reaches C through its bindings
 * and views.
 *
 * web/src (the chat page) may import src/protocol/ only, and only types (`import type`) from a protocol
 * file that has imports of its own: what it imports for real is bundled into the page (zod must not be).
 *
 * The environment: `config/env.ts` is the one registry of environment variables and a leaf (it imports
 * nothing of ours); every layer may import it, and no other module of `config/` unless the table says
 * so. `process.env` appears in no other file of src/ but config/'s tests (comments included, so that
 * `grep -rn process.env src` finds config/ only).
 *
 * Run: npx tsx scripts/check-layers.ts [SRC_DIR] (part of `npm test`; SRC_DIR defaults to src/, tests
 * pass a tree of their own). Exits 1 and lists every violation.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(process.argv[2] ?? resolve(import.meta.dirname, "../src"));
const allowed: Record<string, string[]> = {
  cli: ["*"],
  server: ["protocol", "engine", "model", "config", "common", "server", "multimodal"],
  engine: ["engine", "native", "model", "common"],
  model: ["model", "native", "common"],
  config: ["config", "engine", "common", "compile", "storage"],
  planner: ["planner", "model", "common"],
  multimodal: ["multimodal", "engine", "common"],
  bench: ["bench", "protocol", "common"],
  router: ["router", "protocol", "common"],
  compile: ["compile", "model", "storage", "native", "common"],
  storage: ["storage", "common"],
  protocol: ["protocol"],
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

/** An import of koffi, static or dynamic. */
const koffiImport = /\bfrom\s+["']koffi["']|\bimport\s*\(\s*["']koffi["']\s*\)|\brequire\s*\(\s*["']koffi["']\s*\)/;

function* files(dir: string, opts: { tests?: boolean } = {}): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p, opts);
    else if (p.endsWith(".ts") && (opts.tests || !p.endsWith(".test.ts"))) yield p;
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
for (const file of files(SRC, { tests: true })) {
  const rel = relative(SRC, file);
  const text = readFileSync(file, "utf8");
  if (!rel.startsWith("native/") && koffiImport.test(text))
    problems.push(`${rel}: imports koffi (only src/native/ may; use its bindings and views)`);
  // The registry reads the environment; config/'s own tests may set it.
  if (rel !== ENV_REGISTRY && !(rel.startsWith("config/") && rel.endsWith(".test.ts"))) {
    const line = text.split("\n").findIndex((l) => PROCESS_ENV.test(l));
    if (line >= 0) problems.push(`${rel}:${line + 1}: reads process.env (declare the variable in src/${ENV_REGISTRY} and read it there)`);
  }
}

/** The chat page: src/protocol/ only; a value import only from a file that imports nothing. */
const WEB_SRC = resolve(SRC, "../web/src");
const importsRe = /^\s*(?:import|export)\b([^;]*?)from\s+["'](\.[^"']+)["']/gm;
for (const file of existsSync(WEB_SRC) ? files(WEB_SRC) : []) {
  const rel = relative(resolve(SRC, ".."), file);
  for (const m of readFileSync(file, "utf8").matchAll(importsRe)) {
    const abs = resolve(dirname(file), m[2]!);
    if (!relative(WEB_SRC, abs).startsWith("..")) continue;
    const target = relative(SRC, abs);
    if (target.startsWith("..") || target.split("/")[0] !== "protocol") {
      problems.push(`${rel}: imports ${m[2]} (web/src may import only src/protocol/)`);
      continue;
    }
    const typeOnly = /^\s*type\b/.test(m[1]!);
    const targetFile = abs.replace(/\.js$/, ".ts");
    if (!typeOnly && /^\s*(?:import|export)\b[^;]*?from\s+["']/m.test(readFileSync(targetFile, "utf8"))) {
      problems.push(
        `${rel}: imports values from ${m[2]}, which imports other modules (use \`import type\`, or keep that file import-free)`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`layer check: ${problems.length} violation(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("layer check: ok");
