/**
 * Lint for the dependency direction of src/ (house style §6.2): an arrow means "may import".
 *
 *   cli → everything          server → engine (client, types, sampling), model, config, multimodal, common
 *   engine → native (runner/ only), model, common     model → native, common
 *   config → engine (types, config), common            native, common → nothing of ours
 *   planner → model, common (pure functions, no I/O)
 *   multimodal → engine (types only), common (image fetch, decode, Llama 4 tiling and prompt tokens)
 *   bench → common (a load generator that speaks HTTP only: no engine, model or native code)
 *   compile → model, storage, native (quantize, version), common      storage → common
 *
 * Only src/native/ may import koffi (tests included): everything else reaches C through its bindings
 * and views.
 *
 * Run: npx tsx scripts/check-layers.ts (part of `npm test`). Exits 1 and lists every violation.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dirname, "../src");
const allowed: Record<string, string[]> = {
  cli: ["*"],
  server: ["engine", "model", "config", "common", "server", "multimodal"],
  engine: ["engine", "native", "model", "common"],
  model: ["model", "native", "common"],
  config: ["config", "engine", "common"],
  planner: ["planner", "model", "common"],
  multimodal: ["multimodal", "engine", "common"],
  bench: ["bench", "common"],
  compile: ["compile", "model", "storage", "native", "common"],
  storage: ["storage", "common"],
  native: ["native"],
  common: ["common"],
};
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
    if (!rules.includes("*") && !rules.includes(targetLayer))
      problems.push(`${rel}: imports ${target} (${layer} may not import ${targetLayer})`);
    if (layer === "engine" && targetLayer === "native" && !nativeInEngine.some((re) => re.test(rel))) {
      problems.push(`${rel}: imports ${target} (only engine/runner/llama-* may touch llama.cpp)`);
    }
  }
}
for (const file of files(SRC, { tests: true })) {
  const rel = relative(SRC, file);
  if (!rel.startsWith("native/") && koffiImport.test(readFileSync(file, "utf8")))
    problems.push(`${rel}: imports koffi (only src/native/ may; use its bindings and views)`);
}
if (problems.length > 0) {
  console.error(`layer check: ${problems.length} violation(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("layer check: ok");
