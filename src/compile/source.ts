/**
 * What `herd compile SOURCE` compiles: a local checkpoint folder, or a Hub id downloaded (and
 * cached) first.
 * @module
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CompileSource } from "./compile.js";
import { downloadHubCheckpoint, looksLikeHubId, type HubOptions } from "./hub.js";

export interface ResolvedSource {
  /** Checkpoint folder to read. */
  readonly dir: string;
  readonly source: CompileSource;
  readonly downloadedBytes: number;
}

export async function resolveCompileSource(
  source: string,
  hub: Omit<HubOptions, "cacheDir"> & { cacheDir: string },
): Promise<ResolvedSource> {
  const local = await stat(source).catch(() => null);
  if (local?.isDirectory()) {
    const dir = resolve(source);
    if (!(await stat(join(dir, "config.json")).catch(() => null)))
      throw new Error(`${source} is a folder without config.json: not a Hugging Face checkpoint`);
    return { dir, source: { id: dir, kind: "local", revision: null }, downloadedBytes: 0 };
  }
  if (local) throw new Error(`${source} is a file; herd compile takes a checkpoint folder or a Hub id (org/name)`);
  if (!looksLikeHubId(source)) throw new Error(`${source}: no such folder, and not a Hugging Face Hub id (org/name)`);
  const ckpt = await downloadHubCheckpoint(source, hub);
  return {
    dir: ckpt.dir,
    source: { id: source, kind: "hub", revision: ckpt.commit, knownSha256: ckpt.knownSha256 },
    downloadedBytes: ckpt.downloadedBytes,
  };
}
