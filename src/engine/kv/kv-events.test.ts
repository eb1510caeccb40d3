import { describe, expect, it } from "vitest";
import { collect, makeRequest } from "../../../test/fixtures/engine.js";
import { EventReplica, expectedBlocks, settle } from "../../../test/fixtures/kv-events.js";
import { InProcessClient } from "../client/in-process-client.js";
import { FakeRunner } from "../runner/fake-runner.js";
import { BlockTracker } from "./block-tracker.js";
import { KvEventPublisher } from "./kv-event-publisher.js";
import { KvManager, MAX_SEQ_LABELS } from "./kv-manager.js";

const BLOCK = 4;
const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

describe("BlockTracker over KvManager", () => {
  it("publishes each held full block once and removes it with its last holder", () => {
    const tracker = new BlockTracker(BLOCK);
    const kv = new KvManager(1000, 0, MAX_SEQ_LABELS, tracker);
    const replica = new Set<bigint>();
    const drain = () => {
      for (const e of tracker.takeEvents()) {
        if (e.type === "AllBlocksCleared") replica.clear();
        else if (e.type === "BlockStored") for (const h of e.blockHashes) replica.add(h);
        else for (const h of e.blockHashes) replica.delete(h);
      }
      expect(replica).toEqual(expectedBlocks(kv, BLOCK));
      expect(tracker.heldBlocks()).toEqual(replica);
    };
    const a = kv.allocateSeq()!;
    kv.commitTokens(a, range(1, 10)); // 2 full blocks, 2 tokens pending
    drain();
    expect(replica.size).toBe(2);
    const b = kv.allocateSeq()!;
    kv.sharePrefix(b, a, 6); // shares 1 full block
    kv.commitTokens(b, [99, 98, 97, 96, 95, 94]); // block 2 of b differs from a's
    drain();
    expect(replica.size).toBe(4);
    kv.commitTokens(a, [11, 12]); // a's third block completes
    drain();
    kv.release(a, true);
    drain();
    expect(kv.evictOne()).toBe(true); // a goes; its first block is still b's
    drain();
    expect(replica.size).toBe(3); // b's own: [1..4] shared with a, then two of its own
    kv.release(b, false);
    drain();
    expect(replica.size).toBe(0);
  });

  it("keys image positions by their content key: same placeholders, different images, different blocks", () => {
    const tracker = new BlockTracker(BLOCK, 200);
    const kv = new KvManager(1000, 0, MAX_SEQ_LABELS, tracker);
    tracker.nameImageKeys(
      new Map([
        [-5, "aa"],
        [-6, "aa"],
        [-9, "bb"],
      ]),
    );
    kv.commitTokens(kv.allocateSeq()!, [1, -5, -6, 2]);
    kv.commitTokens(kv.allocateSeq()!, [1, -7, -8, 2]);
    const events = tracker.takeEvents().filter((e) => e.type === "BlockStored");
    expect(events).toHaveLength(2);
    expect(events[0]!.blockHashes[0]).not.toBe(events[1]!.blockHashes[0]);
    expect(events[0]).toMatchObject({ tokenIds: [1, 200, 200, 2], extraKeys: [["aa"]] });
    expect(events[1]).toMatchObject({ extraKeys: [[-7, -8]] }); // keys it was not told about stay numbers
    kv.commitTokens(kv.allocateSeq()!, [3, 4, 5, 6, -6, -9, 7, 8]);
    const mixed = tracker.takeEvents().filter((e) => e.type === "BlockStored");
    expect(mixed[0]).toMatchObject({ extraKeys: [null, ["aa", "bb"]] });
  });
});

describe("KV-cache events of image prompts (fake vision projector)", () => {
  it("report the placeholder token in token_ids and the images' content hashes in extra_keys", async () => {
    const P = 50;
    const runner = new FakeRunner({
      vocabSize: 256,
      vision: { placeholderTokenId: P, embeddingsPerTile: 4 },
      config: { kvEvents: { endpoint: "unused", topic: "" }, blockSize: BLOCK },
    });
    const client = InProcessClient.fromRunner(runner);
    const image = (hash: string) => ({ hash, tileSize: 2, tiles: [new Uint8Array(12).fill(7), new Uint8Array(12).fill(9)] });
    const prompt = [1, 2, 3, 4, P, P, P, P, P, P, P, P, 5, 6, 7, 8];
    await collect(client, { ...makeRequest(prompt, { maxTokens: 1 }), images: [image("img-a")] });
    await collect(client, { ...makeRequest(prompt, { maxTokens: 1 }), images: [image("img-b")] });
    // One entry per stored block, across events (text and image items commit separately).
    const blocks = client.core.kv.blockTracker!.takeEvents().flatMap((e) =>
      e.type === "BlockStored"
        ? e.blockHashes.map((hash, i) => ({
            hash,
            tokens: e.tokenIds.slice(i * BLOCK, (i + 1) * BLOCK),
            extra: e.extraKeys?.[i] ?? null,
          }))
        : [],
    );
    // img-a: 4 blocks (text, image, image, text); img-b shares only the first, then 3 new ones.
    expect(blocks.map((b) => b.extra)).toEqual([null, ["img-a"], ["img-a"], null, ["img-b"], ["img-b"], null]);
    expect(blocks.slice(0, 4).flatMap((b) => b.tokens)).toEqual(prompt);
    expect(new Set(blocks.map((b) => b.hash)).size).toBe(7);
    await client.close();
  });
});

describe("BlockTracker with a sliding window", () => {
  it("withdraws a sequence's blocks once it reaches the window (it lends no prefix any more)", () => {
    const tracker = new BlockTracker(BLOCK);
    const kv = new KvManager(1000, 10, MAX_SEQ_LABELS, tracker);
    const a = kv.allocateSeq()!;
    kv.commitTokens(a, range(1, 8));
    const b = kv.allocateSeq()!;
    kv.sharePrefix(b, a, 4);
    expect(tracker.heldBlocks().size).toBe(2);
    kv.commitTokens(a, [9, 10]); // a reaches the window: its blocks go, but b still holds the first
    expect(tracker.heldBlocks()).toEqual(expectedBlocks(kv, BLOCK));
    expect(tracker.heldBlocks().size).toBe(1);
    kv.commitTokens(a, range(11, 8));
    expect(tracker.heldBlocks().size).toBe(1);
    kv.release(a, false);
    kv.release(b, false);
    const events = tracker.takeEvents();
    expect(events.filter((e) => e.type === "BlockRemoved").flatMap((e) => (e.type === "BlockRemoved" ? e.blockHashes : []))).toHaveLength(
      2,
    );
    expect(tracker.heldBlocks().size).toBe(0);
  });
});

describe("KV-cache events over ZMQ (fake runner)", () => {
  it("a subscriber's replayed set equals the blocks the KV manager holds, through evictions and a restart", async () => {
    const kvEvents = { endpoint: "tcp://127.0.0.1:*", topic: "kv" };
    const runnerOpts = { vocabSize: 256, numKvCells: 96, config: { kvEvents, blockSize: BLOCK, maxCachedTokens: 48 } };
    const onError = (err: Error) => {
      throw err;
    };
    const publisher = await KvEventPublisher.create(kvEvents, BLOCK, onError);
    const endpoint = publisher.socket.lastEndpoint!;
    const replica = new EventReplica(endpoint, "kv", BLOCK);
    await settle();
    let client = InProcessClient.fromRunner(new FakeRunner(runnerOpts), publisher);
    const synced = async () => {
      const held = () => client.core.kv.blockTracker!.heldBlocks();
      await replica.waitFor(held);
      expect(replica.blocks).toEqual(held());
      expect(held()).toEqual(expectedBlocks(client.core.kv, BLOCK));
    };
    const system = range(1, 20);
    for (let i = 0; i < 6; i++) {
      await collect(client, makeRequest([...system, ...range(100 + 10 * i, 9)], { maxTokens: 6 }));
      await synced();
    }
    await Promise.all(range(0, 4).map((i) => collect(client, makeRequest([...system, ...range(30 + i * 7, 7)], { maxTokens: 8 }))));
    await synced();
    expect((await client.stats()).numCacheEvictions).toBeGreaterThan(0);
    expect(replica.events.some((e) => e[0] === "BlockRemoved")).toBe(true);
    expect(replica.events[0]?.[0]).toBe("AllBlocksCleared");
    await client.close();

    // The engine restarts: a new one binds the same port (`tcp://*:PORT`: without a wildcard it would connect, vLLM's rule).
    const restarted = await KvEventPublisher.create({ ...kvEvents, endpoint: endpoint.replace("127.0.0.1", "*") }, BLOCK, onError);
    const before = replica.events.length;
    await settle(500); // the subscriber reconnects on its own (every 100 ms)
    client = InProcessClient.fromRunner(new FakeRunner(runnerOpts), restarted);
    await replica.waitFor(() => new Set());
    expect(replica.events[before]?.[0]).toBe("AllBlocksCleared");
    await collect(client, makeRequest([...system, 7, 7, 7], { maxTokens: 4 }));
    await synced();
    expect(replica.blocks.size).toBeGreaterThan(0);
    await client.close();
    replica.close();
    expect(replica.problems).toEqual([]);
    expect(replica.seqs.slice(0, 3)).toEqual([0n, 1n, 2n]);
  });
});
