/** EngineHost on a real in-process engine (stories260K): warmup → ready, leases, drain. */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../common/errors.js";
import { isCI } from "../config/env.js";
import { createEngineClient } from "../engine/client/index.js";
import { defaultEngineConfig } from "../engine/config.js";
import { defaultSamplingParams } from "../engine/sample/sampling-params.js";
import { EngineHost, type EngineState } from "./engine-host.js";
import { silentLogger } from "./logger.js";

const model = fileURLToPath(new URL("../../../shared/fixtures/stories260K.gguf", import.meta.url));
const present = existsSync(model);
if (!present && isCI()) throw new Error(`missing fixture ${model}`);

describe.skipIf(!present)("EngineHost", () => {
  const states: EngineState[] = [];
  const host = new EngineHost({
    create: () => createEngineClient({ ...defaultEngineConfig(model), threads: 1 }, { inProcess: true }),
    log: silentLogger(),
    onStateChange: (s) => states.push(s),
  });
  afterAll(() => host.close());

  it("refuses requests while loading, then warms up to ready", async () => {
    expect(() => host.acquire()).toThrow(UnavailableError);
    expect(host.isReady()).toBe(false);
    await host.start();
    const deadline = Date.now() + 30_000;
    while (!host.isReady() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(states).toEqual(["warming", "ready"]);
    expect(host.isLive()).toBe(true);
  });

  it("counts leases, and drain waits for them before stopping", async () => {
    const lease = host.acquire();
    expect(host.numInFlight).toBe(1);
    const outputs: number[] = [];
    const run = (async () => {
      const sampling = { ...defaultSamplingParams(), temperature: 0, maxTokens: 50, ignoreEos: true };
      for await (const out of lease.client.generate({ requestId: "drain-test", promptTokenIds: [1, 403, 407], sampling })) {
        for (const d of out.deltas) outputs.push(...d.tokenIds);
      }
      lease.release();
      lease.release(); // idempotent
    })();
    const drained = host.drain(30_000);
    expect(host.state).toBe("draining");
    expect(() => host.acquire()).toThrow(/shutting down/);
    expect(await drained).toBe(true);
    await run;
    expect(outputs).toHaveLength(50);
    expect(host.numInFlight).toBe(0);
    expect(host.state).toBe("stopped");
    expect(host.isReady()).toBe(false);
  });
});
