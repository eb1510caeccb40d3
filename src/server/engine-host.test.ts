/**
 * EngineHost over fake engines (test/fixtures/fake-engine.ts): warmup → ready, leases, drain, and
 * restarts after an engine death, with the restart backoff on fake timers.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { UnavailableError } from "../common/errors.js";
import { FakeEngineClient } from "../../test/fixtures/fake-engine.js";
import { EngineHost, type EngineHostOptions, type EngineState } from "./engine-host.js";
import { silentLogger } from "./logger.js";

/** A host whose `create` hands out `clients` in turn (a rejected start for each `null`). */
function hostOver(clients: Array<FakeEngineClient | null>, opts: Partial<EngineHostOptions> = {}) {
  const states: EngineState[] = [];
  const waiters: Array<{ state: EngineState; resolve: () => void }> = [];
  let created = 0;
  let restarts = 0;
  const host = new EngineHost({
    create: async () => {
      const c = clients[created++];
      if (!c) throw new Error("the engine failed to load");
      return c;
    },
    log: silentLogger(),
    onStateChange: (s) => {
      states.push(s);
      for (const w of waiters.filter((w) => w.state === s)) w.resolve();
    },
    onRestart: () => restarts++,
    ...opts,
  });
  /** Resolves when the host enters `state` (at once if it is there). */
  const reach = (state: EngineState) =>
    host.state === state ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ state, resolve }));
  return { host, states, reach, created: () => created, restarts: () => restarts };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("EngineHost", () => {
  it("refuses requests while loading, then warms up with a 1-token request to ready", async () => {
    const client = new FakeEngineClient();
    const { host, states, reach } = hostOver([client]);
    expect(() => host.acquire()).toThrow(UnavailableError);
    expect(host.isReady()).toBe(false);
    await host.start();
    await reach("ready");
    expect(states).toEqual(["warming", "ready"]);
    expect(host.isLive()).toBe(true);
    const warmup = client.requests[0]!;
    expect(warmup.promptTokenIds).toEqual([client.modelInfo.bosTokenId]);
    expect(warmup.sampling).toMatchObject({ maxTokens: 1, temperature: 0, ignoreEos: true });
  });

  it("without warmup, becomes ready when a request produces its first token", async () => {
    const { host } = hostOver([new FakeEngineClient()], { warmup: false });
    await host.start();
    expect(host.state).toBe("warming");
    const lease = host.acquire(); // requests are accepted while warming
    expect(host.isReady()).toBe(false);
    lease.tokenProduced();
    expect(host.isReady()).toBe(true);
    lease.release();
  });

  it("counts leases, and drain waits for them before stopping the engine", async () => {
    const client = new FakeEngineClient();
    const { host } = hostOver([client], { warmup: false });
    await host.start();
    const lease = host.acquire();
    expect(host.numInFlight).toBe(1);
    const drained = host.drain(30_000);
    expect(host.state).toBe("draining");
    expect(() => host.acquire()).toThrow(/shutting down/);
    expect(client.isAlive()).toBe(true); // still serving the lease
    lease.release();
    lease.release(); // idempotent
    expect(await drained).toBe(true);
    expect(host.numInFlight).toBe(0);
    expect(host.state).toBe("stopped");
    expect(client.isAlive()).toBe(false);
    expect(host.isReady()).toBe(false);
  });

  it("drain gives up waiting after its timeout and stops anyway", async () => {
    vi.useFakeTimers();
    const client = new FakeEngineClient();
    const { host } = hostOver([client], { warmup: false });
    await host.start();
    host.acquire();
    const drained = host.drain(5_000);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(host.state).toBe("draining");
    await vi.advanceTimersByTimeAsync(1);
    expect(await drained).toBe(false);
    expect(host.state).toBe("stopped");
    expect(client.isAlive()).toBe(false);
  });

  it("after an engine death: 503 engine_restarting, a new engine after the backoff, then ready again", async () => {
    vi.useFakeTimers();
    const [first, second] = [new FakeEngineClient(), new FakeEngineClient()];
    const { host, states, reach, restarts } = hostOver([first, second], { restartDelaysMs: [500] });
    await host.start();
    await reach("ready");
    first.die();
    expect(host.state).toBe("dead");
    expect(() => host.acquire()).toThrow(expect.objectContaining({ code: "engine_restarting" }));
    await vi.advanceTimersByTimeAsync(499);
    expect(host.state).toBe("dead");
    await vi.advanceTimersByTimeAsync(1);
    await reach("ready");
    expect(states).toEqual(["warming", "ready", "dead", "warming", "ready"]);
    expect(restarts()).toBe(1);
    expect(host.acquire().client).toBe(second);
    expect(host.isLive()).toBe(true);
  });

  it("gives up after maxRestartAttempts failed restarts: stopped, and no longer live", async () => {
    vi.useFakeTimers();
    const first = new FakeEngineClient();
    const { host, created } = hostOver([first, null, null, null], { restartDelaysMs: [100, 200], maxRestartAttempts: 3 });
    await host.start();
    first.die();
    await vi.advanceTimersByTimeAsync(100); // attempt 1
    expect(created()).toBe(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(created()).toBe(2);
    await vi.advanceTimersByTimeAsync(1); // attempt 2 (the last delay repeats)
    await vi.advanceTimersByTimeAsync(200); // attempt 3
    expect(created()).toBe(4);
    expect(host.state).toBe("stopped");
    expect(host.isLive()).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(created()).toBe(4);
  });
});
