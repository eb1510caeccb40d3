/**
 * KV-cache events from the real engine (stories260K): what a subscriber decodes adds up to exactly the
 * full blocks the KV manager holds, through shared prefixes, evictions and engine restarts; and the
 * engine process (what `herd serve` runs) publishes them on the configured endpoint.
 */
import { describe, expect, it } from "vitest";
import { EngineDeadError } from "../../src/common/errors.js";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { ProcessClient } from "../../src/engine/client/process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { hashBlock } from "../../src/engine/kv/block-tracker.js";
import { KvEventPublisher } from "../../src/engine/kv/kv-event-publisher.js";
import { LlamaRunner } from "../../src/engine/runner/llama-runner.js";
import type { EngineConfig } from "../../src/engine/types.js";
import { collect, makeRequest } from "../fixtures/engine.js";
import { EventReplica, expectedBlocks, settle, freePort } from "../fixtures/kv-events.js";
import { sharedFixture } from "../fixtures/paths.js";

const model = sharedFixture("stories260K.gguf");
const BLOCK = 16;

describe.skipIf(!model.present)("KV-cache events (stories260K)", () => {
  it("the published blocks equal the KV manager's held full blocks through shared prefixes, evictions and a restart", async () => {
    const port = await freePort();
    const kvEvents = { endpoint: `tcp://*:${port}`, topic: "kv-events" };
    const config: EngineConfig = {
      ...defaultEngineConfig(model.path),
      threads: 1,
      maxModelLen: 256,
      kvCacheTokens: 512,
      maxCachedTokens: 160,
      blockSize: BLOCK,
      kvEvents,
    };
    const onError = (err: Error) => {
      throw err;
    };
    const replica = new EventReplica(`tcp://127.0.0.1:${port}`, "kv-events", BLOCK);
    const start = async () => {
      const publisher = await KvEventPublisher.create(kvEvents, BLOCK, onError);
      await settle(500);
      return InProcessClient.fromRunner(await LlamaRunner.create(config), publisher);
    };
    let client = await start();
    const synced = async () => {
      const held = () => client.core.kv.blockTracker!.heldBlocks();
      await replica.waitFor(held);
      expect(replica.blocks).toEqual(held());
      expect(held()).toEqual(expectedBlocks(client.core.kv, BLOCK));
    };
    const system = await client.tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
    const questions = ["She saw a big dog.", "One day, she found a ball.", "Her mom said no.", "The sun was hot.", "Tim had a red car."];
    for (const q of questions) {
      const ids = [...system, ...(await client.tokenize(` ${q}`, { addSpecial: false }))];
      await collect(client, makeRequest(ids, { maxTokens: 24, ignoreEos: true }));
      await synced();
    }
    await Promise.all(
      questions.map(async (q) =>
        collect(client, makeRequest([...system, ...(await client.tokenize(q, { addSpecial: false }))], { maxTokens: 40, ignoreEos: true })),
      ),
    );
    await synced();
    expect((await client.stats()).numCacheEvictions).toBeGreaterThan(0);
    expect(replica.events.some((e) => e[0] === "BlockRemoved")).toBe(true);
    // The system prompt's first block is what every request shares: published once, while held.
    const first = hashBlock(null, system.slice(0, BLOCK));
    expect(replica.blocks.has(first)).toBe(true);
    const storedFirst = replica.events.filter((e) => e[0] === "BlockStored" && (e[1] as bigint[]).includes(first));
    expect(storedFirst.length).toBeGreaterThan(0);
    await client.close();

    // An engine restart: the new engine clears everything, then publishes from scratch.
    const before = replica.events.length;
    client = await start();
    await replica.waitFor(() => new Set());
    expect(replica.events[before]?.[0]).toBe("AllBlocksCleared");
    await collect(client, makeRequest(system, { maxTokens: 8 }));
    await synced();
    expect(replica.blocks.has(first)).toBe(true);
    await client.close();
    replica.close();
    expect(replica.problems).toEqual([]);
  }, 120_000);

  it("the engine process publishes on the flag's endpoint, and a restarted engine process clears and republishes", async () => {
    process.env.HERD_ENABLE_TEST_HOOKS = "1";
    const port = await freePort();
    const config: EngineConfig = {
      ...defaultEngineConfig(model.path),
      threads: 1,
      maxModelLen: 256,
      kvEvents: { endpoint: `tcp://*:${port}`, topic: "" },
    };
    const replica = new EventReplica(`tcp://127.0.0.1:${port}`, "", 16);
    const client = await ProcessClient.create(config);
    await settle(500);
    const ids = await client.tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside.");
    expect(ids.length).toBeGreaterThanOrEqual(16);
    await collect(client, makeRequest(ids, { maxTokens: 8 }));
    const first = hashBlock(null, ids.slice(0, 16));
    await replica.waitFor(() => new Set([...replica.blocks, first]));
    expect(replica.blocks.has(first)).toBe(true);
    const stored = replica.events.find((e) => e[0] === "BlockStored")!;
    expect(stored[2]).toBeNull(); // parent of the first block
    expect(stored[3]).toEqual(ids.slice(0, (stored[1] as bigint[]).length * 16)); // token ids, in order

    // llama.cpp aborts: the engine process dies; a new one binds the same port and starts with AllBlocksCleared.
    const dead = new Promise((r) => client.onDead(r));
    client.crashForTest();
    await dead;
    await expect(collect(client, makeRequest(ids))).rejects.toBeInstanceOf(EngineDeadError);
    const before = replica.events.length;
    const fresh = await ProcessClient.create(config);
    await replica.waitFor(() => new Set());
    // The subscriber may reconnect only after the new engine's first batch (vLLM behaves the same); a request then republishes.
    await collect(fresh, makeRequest(ids, { maxTokens: 4 }));
    await replica.waitFor(() => new Set([...replica.blocks, first]));
    expect(replica.blocks.has(first)).toBe(true);
    expect(replica.events.length).toBeGreaterThan(before);
    await fresh.close();
    await client.close();
    replica.close();
    expect(replica.problems).toEqual([]);
  }, 120_000);
});
