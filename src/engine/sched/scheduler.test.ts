import { describe, expect, it } from "vitest";
import { InProcessClient } from "../client/in-process-client.js";
import { FakeRunner, type FakeRunnerOptions } from "../runner/fake-runner.js";
import { collect, makeRequest } from "../../../test/fixtures/engine.js";
import { CapacityError, ContextLengthExceededError } from "../../common/errors.js";
import { PROVEN_HIT_TOKENS, UNPROVEN_SHARE } from "../kv/kv-manager.js";
import { IN_FLIGHT_PREFIX_MIN } from "./scheduler.js";

function engine(opts: FakeRunnerOptions = {}) {
  const runner = new FakeRunner(opts);
  return { runner, client: InProcessClient.fromRunner(runner) };
}

const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

/**
 * Waits until the engine has started `n` more steps (batches), counting event-loop turns rather than
 * time: how many steps fit in some milliseconds depends on the machine's load; this does not.
 */
async function steps(runner: FakeRunner, n = 1): Promise<void> {
  const target = runner.batches.length + n;
  while (runner.batches.length < target) await new Promise((r) => setImmediate(r));
}

describe("scheduler policies (fake runner)", () => {
  it("generates the scripted continuation and stops at max_tokens", async () => {
    const { client } = engine();
    const out = await collect(client, makeRequest([1, 2, 3], { maxTokens: 5 }));
    expect(out.tokenIds[0]).toEqual([4, 5, 6, 7, 8]);
    expect(out.finishReason[0]).toBe("length");
    await client.close();
  });

  it("a sequence as long as the sliding window lends no prefix (llama.cpp may have purged its start)", async () => {
    // Llama 4's chunked attention (8192-token chunks): once a sequence reaches a chunk boundary,
    // llama.cpp may give the cells of its first chunk to other sequences in the sliding-window layers'
    // cache. Sharing its prefix then left the new sequence with nothing: "batch position gap … starts
    // at 5, KV ends at -1", and every request in that step failed.
    const { client } = engine({ vocabSize: 256, slidingWindow: 32 });
    const header = range(1, 5);
    const long = await collect(client, makeRequest([...header, ...range(100, 40)], { maxTokens: 2 }));
    expect(long.finishReason[0]).toBe("length");
    const short = await collect(client, makeRequest([...header, 7, 8], { maxTokens: 2 }));
    expect(short.finishReason[0]).toBe("length");
    expect(short.outputs.at(-1)!.numCachedTokens).toBe(0);
    // A source shorter than the window still lends its prefix.
    const again = await collect(client, makeRequest([...header, 7, 9], { maxTokens: 2 }));
    expect(again.outputs.at(-1)!.numCachedTokens).toBe(6);
    await client.close();
  });

  it("chunks a long prompt within the per-step token budget", async () => {
    const { client, runner } = engine({ maxBatchTokens: 16, vocabSize: 256 });
    await collect(client, makeRequest(range(1, 40), { maxTokens: 2 }));
    const sizes = runner.batches.map((b) => b.reduce((n, it) => n + it.tokens.length, 0));
    expect(sizes.slice(0, 3)).toEqual([16, 16, 8]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16);
    await client.close();
  });

  it("puts running decodes before new prompt chunks in a step", async () => {
    const { client, runner } = engine({ maxBatchTokens: 8, vocabSize: 256 });
    let b: Promise<unknown> | undefined;
    for await (const _ of client.generate(makeRequest([1, 2], { maxTokens: 20 }))) {
      b ??= collect(client, makeRequest(range(100, 20), { maxTokens: 2 })); // arrives while a decodes
    }
    await b;
    const mixed = runner.batches.find((batch) => batch.length === 2);
    expect(mixed).toBeDefined();
    expect(mixed![0]!.tokens.length).toBe(1); // the decode comes first
    expect(mixed![1]!.tokens.length).toBe(7); // the new prompt gets the rest of the budget
    await client.close();
  });

  it("runs at most max-num-seqs sequences at once and queues the rest", async () => {
    const { client, runner } = engine({ config: { maxNumSeqs: 2 } });
    const outs = await Promise.all(range(0, 5).map((i) => collect(client, makeRequest([i + 1], { maxTokens: 4 }))));
    for (const o of outs) expect(o.tokenIds[0]!.length).toBe(4);
    expect(Math.max(...runner.batches.map((b) => b.length))).toBe(2);
    await client.close();
  });

  it("queues instead of failing when the KV cache is full, and finishes every request", async () => {
    // 64 cells; each request needs 10 + 20 = 30 cells, so only two fit at a time.
    const { client, runner } = engine({ numKvCells: 64, vocabSize: 256, config: { enablePrefixCaching: false } });
    const outs = await Promise.all(range(0, 6).map((i) => collect(client, makeRequest(range(10 * i + 1, 10), { maxTokens: 20 }))));
    outs.forEach((o, i) => {
      expect(o.finishReason[0]).toBe("length");
      expect(o.tokenIds[0]).toEqual(range(10 * i + 11, 20));
    });
    // llama.cpp would have refused a batch beyond the cache: the engine never asked for one.
    expect(runner.maxCellsInUse).toBeLessThanOrEqual(64);
    expect((await client.stats()).numPreemptions).toBeGreaterThan(0);
    await client.close();
  });

  it("preempts the newest request when cells run out mid-decode and recomputes it with identical output", async () => {
    const { client } = engine({ numKvCells: 40, vocabSize: 256, config: { enablePrefixCaching: false } });
    const alone = await collect(client, makeRequest([7, 8, 9], { maxTokens: 30 }));
    const both = await Promise.all([
      collect(client, makeRequest([1, 2, 3], { maxTokens: 30 })),
      collect(client, makeRequest([7, 8, 9], { maxTokens: 30 })),
    ]);
    expect(both[1]!.tokenIds[0]).toEqual(alone.tokenIds[0]);
    expect((await client.stats()).numPreemptions).toBeGreaterThan(0);
    await client.close();
  });

  it("rejects at once a request that can never fit", async () => {
    const { client } = engine({ numKvCells: 32 });
    await expect(collect(client, makeRequest(range(1, 40)))).rejects.toBeInstanceOf(ContextLengthExceededError);
    await expect(collect(client, makeRequest([1, 2], { maxTokens: 31 }))).rejects.toThrow(/max_tokens|maximum context/);
    await client.close();
  });

  it("bounds the waiting queue with a capacity error", async () => {
    const { client } = engine({ config: { maxWaiting: 2, maxNumSeqs: 1 } });
    const gens = range(0, 3).map(() => collect(client, makeRequest([1, 2], { maxTokens: 50 })));
    // Requests 1 and 2 fit the queue; the engine loop has not admitted any yet, so the third overflows.
    const settled = await Promise.allSettled([...gens, collect(client, makeRequest([1], { maxTokens: 2 }))]);
    expect(settled.some((s) => s.status === "rejected" && s.reason instanceof CapacityError)).toBe(true);
    await client.close();
  });

  it("reuses a finished request's prefix instead of recomputing it", async () => {
    const { client, runner } = engine({ vocabSize: 256 });
    const prompt = range(1, 30);
    const first = await collect(client, makeRequest(prompt, { maxTokens: 3 }));
    const before = runner.batches.length;
    const second = await collect(client, makeRequest([...prompt, 200], { maxTokens: 3 }));
    const computed = runner.batches.slice(before).reduce((n, b) => n + b.reduce((m, it) => m + it.tokens.length, 0), 0);
    expect(computed).toBeLessThan(6); // 1 new prompt token + decodes, not 31 prompt tokens
    expect(second.outputs.at(-1)!.numCachedTokens).toBe(30);
    expect(first.tokenIds[0]).toEqual([31, 32, 33]);
    const stats = await client.stats();
    expect(stats.prefixCacheHits).toBe(30);
    await client.close();
  });

  it("an idle engine keeps its prefix cache: the next request hits it even with max-cached-tokens 0", async () => {
    const { client } = engine({ vocabSize: 256, config: { maxCachedTokens: 0 } });
    const prompt = range(1, 30);
    await collect(client, makeRequest(prompt, { maxTokens: 3 }));
    expect((await client.stats()).kvCellsCached).toBe(32); // 30 prompt + 2 decoded (the last token is never decoded)
    const second = await collect(client, makeRequest([...prompt, 200], { maxTokens: 3 }));
    expect(second.outputs.at(-1)!.numCachedTokens).toBe(30);
    // ...but once work runs, the cap applies: nothing stays cached beyond what running requests hold.
    const s = await client.stats();
    expect(s.numCacheEvictions).toBeGreaterThanOrEqual(1);
    await client.close();
  });

  it("bounds the cells of finished prefixes while others decode, evicting least recently used first", async () => {
    const { client } = engine({ vocabSize: 256, config: { maxCachedTokens: 50 } });
    const long = collect(client, makeRequest([5], { maxTokens: 200, ignoreEos: true })); // decodes while the others come and go
    const prompts = [range(10, 20), range(40, 20), range(70, 20), range(100, 20)];
    let maxCached = 0;
    for (const p of prompts) {
      await collect(client, makeRequest(p, { maxTokens: 2 }));
      maxCached = Math.max(maxCached, (await client.stats()).kvCellsCached);
    }
    const s = await client.stats();
    // Each finished request leaves 21 cached cells; the cap (50) holds two. The trim runs when the
    // next step is planned, so between a finish and that step one entry more may be held.
    expect(maxCached).toBeLessThanOrEqual(50 + 21);
    expect(s.numCacheEvictions).toBeGreaterThanOrEqual(1);
    // The most recent prompt is still cached, the oldest is not.
    const recent = await collect(client, makeRequest([...prompts[3]!, 7], { maxTokens: 1 }));
    expect(recent.outputs.at(-1)!.numCachedTokens).toBe(20);
    const oldest = await collect(client, makeRequest([...prompts[0]!, 7], { maxTokens: 1 }));
    expect(oldest.outputs.at(-1)!.numCachedTokens).toBe(0);
    await long;
    await client.close();
  });

  it("auto cap: cached prefixes hold as many cells as running requests (≥ max-model-len); never-reused ones 1/8 of the floor", async () => {
    const { client } = engine({ vocabSize: 256, numKvCells: 1024, config: { maxModelLen: 128 } });
    const long = collect(client, makeRequest([5], { maxTokens: 120, ignoreEos: true }));
    for (let i = 0; i < 12; i++) await collect(client, makeRequest(range(10 + i * 19, 20), { maxTokens: 2 }));
    let s = await client.stats();
    // 12 × 21 cells finished, none reused: at most 128 × UNPROVEN_SHARE (+ one entry not yet trimmed) stay.
    expect(s.kvCellsCached).toBeLessThanOrEqual(Math.floor(128 * UNPROVEN_SHARE) + 21);
    expect(s.numCacheEvictions).toBeGreaterThanOrEqual(10);
    // Entries that served a hit (of at least PROVEN_HIT_TOKENS) may fill the whole cap.
    for (let i = 0; i < 4; i++) {
      const p = range(10 + i * 41, 40);
      await collect(client, makeRequest(p, { maxTokens: 1 }));
      expect((await collect(client, makeRequest([...p, 1], { maxTokens: 1 }))).outputs.at(-1)!.numCachedTokens).toBe(40);
    }
    s = await client.stats();
    expect(s.kvCellsCached).toBeGreaterThanOrEqual(2 * 40);
    expect(s.kvCellsCached).toBeLessThanOrEqual(128 + 42);
    await long;
    await client.close();
  });

  it("auto cap: with every sequence slot busy, nothing stays cached (as in llama-server, only idle slots keep prompts)", async () => {
    const { client, runner } = engine({ vocabSize: 256, config: { maxNumSeqs: 4, maxModelLen: 128 } });
    const first = collect(client, makeRequest([5], { maxTokens: 120, ignoreEos: true }));
    const system = range(10, PROVEN_HIT_TOKENS);
    await collect(client, makeRequest([...system, 1], { maxTokens: 1 }));
    await collect(client, makeRequest([...system, 2], { maxTokens: 1 })); // a hit: the entry is proven
    expect((await client.stats()).kvCellsCached).toBeGreaterThanOrEqual(PROVEN_HIT_TOKENS); // 1 of 4 slots busy: kept
    const others = [200, 210, 220].map((t) => collect(client, makeRequest([t], { maxTokens: 100, ignoreEos: true })));
    // The next step admits all three, and for the next 100 steps every slot is busy.
    await steps(runner);
    let s = await client.stats();
    expect(s.numRunning).toBe(4);
    await steps(runner); // a step with all 4 slots busy
    s = await client.stats();
    expect(s.numRunning).toBe(4);
    expect(s.kvCellsCached).toBe(0);
    await Promise.all([first, ...others]);
    await client.close();
  });

  it("while others decode, a prefix that served hits outlives newer prefixes that did not", async () => {
    const { client } = engine({ vocabSize: 256, config: { maxCachedTokens: 100 } });
    const long = collect(client, makeRequest([5], { maxTokens: 300, ignoreEos: true }));
    const system = range(10, PROVEN_HIT_TOKENS);
    await collect(client, makeRequest([...system, 1], { maxTokens: 1 }));
    expect((await collect(client, makeRequest([...system, 2], { maxTokens: 1 }))).outputs.at(-1)!.numCachedTokens).toBe(PROVEN_HIT_TOKENS);
    for (let i = 0; i < 6; i++) await collect(client, makeRequest(range(60 + i * 21, 20), { maxTokens: 2 })); // one-off prompts
    expect((await collect(client, makeRequest([...system, 3], { maxTokens: 1 }))).outputs.at(-1)!.numCachedTokens).toBe(PROVEN_HIT_TOKENS);
    // The oldest one-off prompt is gone.
    expect((await collect(client, makeRequest([...range(60, 20), 9], { maxTokens: 1 }))).outputs.at(-1)!.numCachedTokens).toBe(0);
    await long;
    await client.close();
  });

  it("a request whose prefix is being computed by another waits for it instead of computing it twice", async () => {
    // Budget 64: step 1 computes 64 of a's 101 tokens; in step 2 a takes 37 and 27 are left, which b
    // would otherwise spend on recomputing a's next prefix tokens.
    const { client, runner } = engine({ maxBatchTokens: 64, vocabSize: 1024 });
    const prefix = range(1, 100);
    const [a, b] = await Promise.all([
      collect(client, makeRequest([...prefix, 500], { maxTokens: 2 })),
      collect(client, makeRequest([...prefix, 600, 601], { maxTokens: 2 })),
    ]);
    expect(a.tokenIds[0]).toEqual([501, 502]);
    expect(b.tokenIds[0]).toEqual([602, 603]);
    expect(b.outputs.at(-1)!.numCachedTokens).toBe(100);
    const computed = runner.batches.flat().reduce((n, it) => n + it.tokens.length, 0);
    expect(computed).toBe(101 + 2 + 2); // both prompts, the shared 100 tokens once, and 2 decodes
    // A short shared prefix (< IN_FLIGHT_PREFIX_MIN tokens) does not hold anyone back.
    const before = runner.batches.length;
    await Promise.all([
      collect(client, makeRequest([...range(700, IN_FLIGHT_PREFIX_MIN - 1), 1, 2], { maxTokens: 1 })),
      collect(client, makeRequest([...range(700, IN_FLIGHT_PREFIX_MIN - 1), 3, 4], { maxTokens: 1 })),
    ]);
    expect(runner.batches[before]!.length).toBe(2);
    await client.close();
  });

  it("n > 1 shares the prompt: siblings copy completion 0's KV", async () => {
    const { client, runner } = engine({ vocabSize: 256 });
    const out = await collect(client, makeRequest(range(1, 20), { maxTokens: 2, n: 3 }));
    expect(out.tokenIds).toEqual([
      [21, 22],
      [21, 22],
      [21, 22],
    ]);
    const promptTokens = runner.batches
      .flat()
      .filter((it) => it.startPos < 20)
      .reduce((n, it) => n + it.tokens.length, 0);
    expect(promptTokens).toBe(20 + 2); // the prompt once, plus the last prompt token for each sibling
    await client.close();
  });

  it("an abort frees the sequence within one step", async () => {
    const { client } = engine();
    const ctrl = new AbortController();
    const req = makeRequest([1], { maxTokens: 1000, ignoreEos: true });
    let n = 0;
    let stepsAtAbort = 0;
    const done = (async () => {
      for await (const _ of client.generate(req, ctrl.signal)) {
        if (++n === 3) {
          stepsAtAbort = client.core.stats().numSteps;
          ctrl.abort();
        }
      }
    })();
    await done;
    // Event-loop turns, not time: the sequence is freed by the next step's abort processing.
    for (let i = 0; i < 100 && client.core.stats().numRunning > 0; i++) await new Promise((r) => setImmediate(r));
    const s = await client.stats();
    expect(s.numRunning).toBe(0);
    expect(s.numSteps - stepsAtAbort).toBeLessThanOrEqual(1);
    expect(n).toBeLessThan(10);
    await client.close();
  });

  it("stops at EOS unless ignore_eos", async () => {
    const { client } = engine({ vocabSize: 16, eosTokenId: 15 });
    const a = await collect(client, makeRequest([12], { maxTokens: 10 }));
    expect(a.tokenIds[0]).toEqual([13, 14, 15]);
    expect(a.finishReason[0]).toBe("stop");
    const b = await collect(client, makeRequest([12], { maxTokens: 5, ignoreEos: true }));
    expect(b.tokenIds[0]).toEqual([13, 14, 15, 0, 1]);
    await client.close();
  });
});

describe("image embeddings (fake vision projector)", () => {
  const P = 50; // placeholder token
  const tile = (v: number) => new Uint8Array(12).fill(v);
  const image = (hash: string, ...tiles: number[]) => ({ hash, tileSize: 2, tiles: tiles.map(tile) });
  const prompt = [1, 2, P, P, P, P, 3, P, P, P, P, 4];

  it("feeds embeddings in their own items, encodes each tile once, and keys prefix reuse by image content", async () => {
    const { client, runner } = engine({ vocabSize: 256, vision: { placeholderTokenId: P, embeddingsPerTile: 4 } });
    const req = (hash: string) => ({ ...makeRequest(prompt, { maxTokens: 2 }), images: [image(hash, 7, 9)] });
    const a = await collect(client, req("img-a"));
    expect(a.tokenIds[0]).toEqual([5, 6]);
    const items = runner.batches.flat();
    const imageItems = items.filter((it) => it.embeddings);
    expect(imageItems.map((it) => [it.startPos, it.tokens.length])).toEqual([
      [2, 4],
      [7, 4],
    ]);
    expect(Array.from(imageItems[1]!.embeddings!)).toEqual(new Array(8).fill(9));
    expect(runner.encodedTiles).toEqual([7, 9]);

    const same = await collect(client, req("img-a"));
    expect(same.outputs.at(-1)!.numCachedTokens).toBe(11);
    const other = await collect(client, req("img-b"));
    expect(other.outputs.at(-1)!.numCachedTokens).toBe(2); // only the text before the image
    await client.close();
  });

  it("refuses images whose embeddings do not match the placeholders, and images for a text-only model", async () => {
    const { client } = engine({ vocabSize: 256, vision: { placeholderTokenId: P, embeddingsPerTile: 4 } });
    await expect(collect(client, { ...makeRequest(prompt), images: [image("x", 1)] })).rejects.toThrow(
      /8 image placeholder tokens, but its 1 image\(s\) give 4/,
    );
    await expect(collect(client, makeRequest(prompt))).rejects.toThrow(/placeholder tokens but no images/);
    await client.close();
    const textOnly = engine({ vocabSize: 256 });
    await expect(collect(textOnly.client, { ...makeRequest(prompt), images: [image("x", 1, 2)] })).rejects.toThrow(/no vision projector/);
    await textOnly.client.close();
  });
});
