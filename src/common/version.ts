import { readFileSync } from "node:fs";

function readVersion(): string {
  // src/common → package.json is two (source) or three (dist/src/common) levels up.
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "herd" && pkg.version) return pkg.version;
    } catch {
      /* try the next candidate */
    }
  }
  return "0.0.0";
}

export const HERD_VERSION = readVersion();
