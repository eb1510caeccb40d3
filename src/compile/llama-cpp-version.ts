/** The llama.cpp build herd quantizes and serves with, as recorded in artifact manifests. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { getBindings } from "../native/bindings.js";
import { resolveLibraryFiles } from "../native/library.js";

let memo: { release: string; version: string } | undefined;

/** `{release: "v0.4.0", version: "0.4.0-dev"}`: the prebuilt release tag and `llama_version()`. */
export function llamaCppVersion(): { release: string; version: string } {
  if (memo) return memo;
  let release = "unknown";
  try {
    const meta = JSON.parse(readFileSync(join(resolveLibraryFiles("cpu").binDir, "_nlcBuildMetadata.json"), "utf8")) as {
      buildOptions?: { llamaCpp?: { release?: string } };
    };
    release = meta.buildOptions?.llamaCpp?.release ?? release;
  } catch {
    /* metadata file missing: keep "unknown" */
  }
  let version = "unknown";
  try {
    version = getBindings("cpu").version();
  } catch {
    /* library not loadable here (e.g. another platform) */
  }
  memo = { release, version };
  return memo;
}
