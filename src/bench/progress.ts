/**
 * The live progress bar (cli-progress, on stderr): requests done, failures, output tokens/s so far.
 * Draws only on a terminal; piped or redirected stderr gets nothing.
 * @module
 */
import { SingleBar } from "cli-progress";
import type { RequestOutput } from "./types.js";

export interface Progress {
  update(out: RequestOutput): void;
  stop(): void;
}

export function createProgress(total: number, title: string, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    format: `${title} [{bar}] {value}/{total} | {failed} failed | {tps} out tok/s | {duration_formatted} elapsed, ETA {eta_formatted}`,
    barsize: 28,
    hideCursor: true,
    fps: 5,
  });
  const t0 = performance.now();
  let failed = 0;
  let tokens = 0;
  let done = 0;
  bar.start(total, 0, { failed: 0, tps: "0.0" });
  return {
    update(out) {
      done++;
      if (out.success) tokens += out.numOutputTokens;
      else failed++;
      bar.update(done, { failed, tps: (tokens / ((performance.now() - t0) / 1000)).toFixed(1) });
    },
    stop: () => bar.stop(),
  };
}
