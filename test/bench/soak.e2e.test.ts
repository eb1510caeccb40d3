/**
 * `bench/soak.ts` end to end, short: its own `herd serve` on the embedded random-weight Llama 4, 8
 * streams for 25 s with every hostile input (long single-class runs included), client disconnects,
 * one engine kill and the SIGTERM drain at the end. Nothing may be unexpected or lost.
 *
 * HERD_SOAK_HOSTILE_RUNS=0 leaves the long-run inputs out (`--no-hostile-runs`), for a tree where they
 * still crash the server.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_MIX, formatReport, KINDS, parseSoakArgs, runSoak } from "../../bench/soak.js";

const hostileRuns = process.env.HERD_SOAK_HOSTILE_RUNS !== "0";

describe("soak (bench/soak.ts)", () => {
  it("parses its options like the CLI", () => {
    const o = parseSoakArgs([
      "-c",
      "8",
      "--duration",
      "30",
      "--no-hostile-runs",
      "--kill-engine-every",
      "10",
      "--serve-args=--threads 1 --max-num-seqs 8",
      "--mix",
      "chat=0,run_cjk=5",
    ]);
    expect(o).toMatchObject({
      concurrency: 8,
      durationS: 30,
      hostile: true,
      hostileRuns: false,
      killEngineEveryS: 10,
      serveArgs: ["--threads", "1", "--max-num-seqs", "8"],
      drainCheck: true,
    });
    expect(o.mix).toEqual({ ...DEFAULT_MIX, chat: 0, run_cjk: 5 });
    expect(parseSoakArgs([])).toMatchObject({ concurrency: 64, durationS: 600, warmupS: 60, hostileRuns: true, killEngineEveryS: 0 });
    expect(() => parseSoakArgs(["--mix", "nope=1"])).toThrow();
  });

  it("25 s, 8 streams, hostile inputs, one engine kill, SIGTERM drain: nothing unexpected or lost", async () => {
    const lines: string[] = [];
    // The first requests sweep every kind once, so each is sent even in a short run.
    const r = await runSoak({
      durationS: 25,
      concurrency: 8,
      warmupS: 5,
      killEngineEveryS: 12,
      hostileRuns,
      maxTokens: 32,
      drainStreams: 8,
      idleWaitS: 3,
      sampleIntervalS: 2,
      requestTimeoutS: 60,
      seed: 7,
      log: (l) => lines.push(l),
    });
    const report = `${formatReport(r)}\n\n${lines.join("\n")}`;
    expect(r.failures, report).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.requests.unexpected, report).toBe(0);
    expect(r.requests.lost, report).toBe(0);
    expect(r.requests.byOutcome.ok ?? 0, report).toBeGreaterThanOrEqual(5);
    expect(r.requests.byOutcome.client_aborted ?? 0, report).toBeGreaterThan(0);
    // Every kind of the mix was sent, and each hostile one got its answer.
    const sent = KINDS.filter((k) => hostileRuns || !k.startsWith("run_"));
    for (const k of sent)
      expect(
        Object.values(r.requests.byKind[k] ?? {}).reduce((a, b) => a + b, 0),
        `${k} sent\n${report}`,
      ).toBeGreaterThan(0);
    for (const k of ["oversize_body", "invalid_utf8", "malformed_json", "over_context"])
      expect(r.requests.byKind[k]?.expected_4xx ?? 0, report).toBeGreaterThan(0);
    // The kill: the engine came back, the server counted one restart, nothing else restarted it.
    expect(r.chaos.killsDone).toBe(1);
    expect(r.chaos.recoveries).toBe(1);
    expect(r.chaos.restartsMetric).toBe(1);
    expect(r.chaos.unexplainedEngineRestarts).toBe(0);
    expect(r.health.failures).toBe(0);
    // Idle: nothing running or waiting.
    expect(r.kv.idle).toMatchObject({ running: 0, waiting: 0 });
    // Drain: the streams in flight at SIGTERM finished, the server exited 0 within its grace period.
    expect(r.drain, report).toMatchObject({ completed: 8, streams: 8, exitCode: 0, problems: [] });
    expect(r.drain?.exitMs ?? Number.POSITIVE_INFINITY).toBeLessThan(30_000);
    expect(r.samples.length).toBeGreaterThan(5);
    expect(r.latency.ttftMs.n).toBeGreaterThan(0);
    // ~45 s once the embedded model and libmtmd are cached; the first start on a machine builds them.
  }, 300_000);
});
