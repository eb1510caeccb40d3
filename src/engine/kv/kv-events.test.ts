import { decode } from "@msgpack/msgpack";
import { Subscriber } from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { collect, makeRequest } from "../../../test/fixtures/engine.js";
import { InProcessClient } from "../client/in-process-client.js";
import { FakeRunner } from "../runner/fake-runner.js";
import { BlockTracker, hashBlock } from "./block-tracker.js";
import { KvEventPublisher } from "./kv-event-publisher.js";
import { KvManager, MAX_SEQ_LABELS } from "./kv-manager.js";

const BLOCK = 4;
const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

/** The full blocks live sequences hold, hashed from scratch (independent of the tracker's bookkeeping). */
function expectedBlocks(kv: KvManager, blockSize: number): Set<bigint> {
  const out = new Set<bigint>();
  for (const seq of kv.liveSeqs()) {
    let parent: bigint | null = null;
    for (let b = 0; (b + 1) * blockSize <= seq.tokens.length; b++) {
      parent = hashBlock(parent, seq.tokens.slice(b * blockSize, (b + 1) * blockSize));
      out.add(parent);
    }
  }
  return out;
}

/** A consumer's view: the block set that a stream of decoded events adds up to (llm-d's index, one pod). */
class EventReplica {
  readonly blocks = new Set<bigint>();
  readonly batches: unknown[][] = [];

  apply(payload: Uint8Array): void {
    const batch = decode(payload, { useBigInt64: true }) as [number, unknown[][], number];
    expect(typeof batch[0]).toBe("number");
    expect(batch[2]).toBe(0);
    for (const ev of batch[1]) {
      this.batches.push(ev);
      const hashes = (ev[1] ?? []) as bigint[];
      if (ev[0] === "AllBlocksCleared") this.blocks.clear();
      else if (ev[0] === "BlockStored") {
        expect(ev[4]).toBe(BLOCK); // block_size
        expect((ev[3] as number[]).length).toBe(hashes.length * BLOCK); // token_ids
        expect(ev[6]).toBe("GPU"); // medium
        for (const h of hashes) this.blocks.add(BigInt(h));
      } else if (ev[0] === "BlockRemoved") for (const h of hashes) this.blocks.delete(BigInt(h));
      else throw new Error(`unknown event ${String(ev[0])}`);
    }
  }
}

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
    const tracker = new BlockTracker(BLOCK);
    const kv = new KvManager(1000, 0, MAX_SEQ_LABELS, tracker);
    kv.commitTokens(kv.allocateSeq()!, [1, -5, -6, 2]);
    kv.commitTokens(kv.allocateSeq()!, [1, -7, -8, 2]);
    const events = tracker.takeEvents().filter((e) => e.type === "BlockStored");
    expect(events).toHaveLength(2);
    expect(events[0]!.blockHashes[0]).not.toBe(events[1]!.blockHashes[0]);
    expect(events[0]).toMatchObject({ tokenIds: [1, 0, 0, 2], extraKeys: [[-5, -6]] });
  });
});

describe("KV-cache events over ZMQ (fake runner)", () => {
  const subs: Subscriber[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.close();
  });

  async function subscribe(endpoint: string, replica: EventReplica): Promise<{ seqs: bigint[] }> {
    const sub = new Subscriber();
    subs.push(sub);
    sub.connect(endpoint);
    sub.subscribe("kv");
    const seen = { seqs: [] as bigint[] };
    void (async () => {
      for await (const [topic, seq, payload] of sub) {
        expect(topic!.toString()).toBe("kv");
        seen.seqs.push(seq!.readBigUInt64BE(0));
        replica.apply(payload!);
      }
    })().catch(() => {});
    return seen;
  }

  /** Waits until the replica has caught up with the engine's tracker (or fails after a while). */
  async function synced(replica: EventReplica, client: InProcessClient): Promise<void> {
    const want = client.core.kv.blockTracker!.heldBlocks();
    for (let i = 0; i < 200; i++) {
      if (setsEqual(replica.blocks, want)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(replica.blocks).toEqual(want);
    expect(want).toEqual(expectedBlocks(client.core.kv, BLOCK));
  }

  it("a subscriber's replayed set equals the blocks the KV manager holds, through evictions and a restart", async () => {
    const kvEvents = { endpoint: "tcp://127.0.0.1:*", topic: "kv" };
    const runnerOpts = { vocabSize: 256, numKvCells: 96, config: { kvEvents, blockSize: BLOCK, maxCachedTokens: 48 } };
    const publisher = await KvEventPublisher.create(kvEvents, BLOCK, (err) => {
      throw err;
    });
    const endpoint = publisher.socket.lastEndpoint!;
    const replica = new EventReplica();
    const seen = await subscribe(endpoint, replica);
    await new Promise((r) => setTimeout(r, 300)); // ZMQ's slow joiner: let the subscription reach the publisher
    let client = InProcessClient.fromRunner(new FakeRunner(runnerOpts), publisher);
    const system = range(1, 20);
    for (let i = 0; i < 6; i++) {
      await collect(client, makeRequest([...system, ...range(100 + 10 * i, 9)], { maxTokens: 6 }));
      await synced(replica, client);
    }
    const parallel = range(0, 4).map((i) => collect(client, makeRequest([...system, ...range(30 + i * 7, 7)], { maxTokens: 8 })));
    await Promise.all(parallel);
    await synced(replica, client);
    expect((await client.stats()).numCacheEvictions).toBeGreaterThan(0);
    expect(replica.batches.some((e) => e[0] === "BlockRemoved")).toBe(true);
    await client.close();

    // The engine restarts: a new engine binds the same endpoint, clears everything and starts over.
    // (`tcp://*:PORT`: an address without a wildcard would connect, vLLM's rule.)
    const restarted = await KvEventPublisher.create({ ...kvEvents, endpoint: endpoint.replace("127.0.0.1", "*") }, BLOCK, (err) => {
      throw err;
    });
    const before = replica.batches.length;
    // The subscriber reconnects on its own (ZMQ retries every 100 ms); events sent before it has are lost, as with vLLM.
    await new Promise((r) => setTimeout(r, 500));
    client = InProcessClient.fromRunner(new FakeRunner(runnerOpts), restarted);
    for (let i = 0; i < 100 && replica.batches.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(replica.batches.slice(before)[0]?.[0]).toBe("AllBlocksCleared");
    expect(replica.blocks.size).toBe(0);
    await collect(client, makeRequest([...system, 7, 7, 7], { maxTokens: 4 }));
    await synced(replica, client);
    expect(replica.blocks.size).toBeGreaterThan(0);
    await client.close();
    expect(seen.seqs.slice(0, 3)).toEqual([0n, 1n, 2n]);
  });
});

function setsEqual<T>(a: Set<T>, b: Set<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
