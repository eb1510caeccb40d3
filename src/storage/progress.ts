/**
 * Byte-transfer progress for the CLI: a cli-progress bar on a terminal, a final summary line
 * otherwise (logs and CI stay readable).
 * @module
 */
import cliProgress from "cli-progress";

export interface ByteProgress {
  /** Adds `bytes` (negative when a retried range starts over). */
  tick(bytes: number): void;
  /** Changes the total (e.g. once the files to transfer are known). */
  setTotal(bytes: number): void;
  /** Stops the bar; prints a summary line when `summary` is given. */
  stop(summary?: string): void;
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

export interface ProgressOptions {
  /** Default: on when stderr is a terminal. */
  readonly enabled?: boolean;
  readonly stream?: NodeJS.WriteStream;
}

/** A byte-progress bar labelled `label` for `total` bytes. */
export function createByteProgress(label: string, total: number, opts: ProgressOptions = {}): ByteProgress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? stream.isTTY === true;
  let value = 0;
  let totalBytes = total;
  const t0 = performance.now();
  const rate = () => formatBytes((value / Math.max(1e-3, (performance.now() - t0) / 1000)) | 0);
  const bar = enabled
    ? new cliProgress.SingleBar(
        {
          stream,
          format: `${label} {bar} {percentage}% | {done} / {all} | {rate}/s | ETA {eta_formatted}`,
          barCompleteChar: "█",
          barIncompleteChar: "░",
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(Math.max(1, totalBytes), 0, { done: formatBytes(0), all: formatBytes(totalBytes), rate: "0 B" });
  return {
    tick(bytes) {
      value += bytes;
      bar?.update(Math.max(0, value), { done: formatBytes(value), all: formatBytes(totalBytes), rate: rate() });
    },
    setTotal(bytes) {
      totalBytes = bytes;
      bar?.setTotal(Math.max(1, bytes));
    },
    stop(summary) {
      bar?.stop();
      if (summary) stream.write(`${summary}\n`);
    },
  };
}
