import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { collect, makeRequest } from "../fixtures/engine.js";
import { readStoriesGoldens, sharedFixture, type StoriesGoldenCase } from "../fixtures/paths.js";

const model = sharedFixture("stories260K.gguf");
const goldens = sharedFixture("stories260K.golden.json");
const have = model.present && goldens.present;
const cases = have ? readStoriesGoldens(goldens.path) : [];

let client: InProcessClient;

beforeAll(async () => {
  if (have) client = await InProcessClient.create({ ...defaultEngineConfig(model.path), threads: 1, maxModelLen: 512 });
});
afterAll(async () => {
  await client?.close();
});

const run = (c: StoriesGoldenCase, on: InProcessClient = client) =>
  collect(on, makeRequest(c.prompt_token_ids, { maxTokens: c.max_tokens }));

describe.skipIf(!have)("stories260K greedy goldens", () => {
  it("reproduces every golden with the weights memory-mapped (--load-mode mmap) as in process memory (the default)", async () => {
    const mapped = await InProcessClient.create({
      ...defaultEngineConfig(model.path),
      threads: 1,
      maxModelLen: 512,
      loadMode: "mmap",
    });
    try {
      for (const c of cases) expect((await run(c, mapped)).tokenIds[0]).toEqual(c.completion_token_ids);
    } finally {
      await mapped.close();
    }
  });

  it("tokenizes the prompts exactly as llama.cpp did", async () => {
    for (const c of cases) expect(await client.tokenize(c.prompt)).toEqual(c.prompt_token_ids);
  });

  it("reproduces every golden alone, tokens and text", async () => {
    for (const c of cases) {
      const out = await run(c);
      expect(out.tokenIds[0]).toEqual(c.completion_token_ids);
      expect(out.text[0]).toBe(c.completion_text);
      expect(out.finishReason[0]).toBe(c.finish_reason);
    }
  });

  it("reproduces them batched with 7 other requests arriving at different steps", async () => {
    const pending: Array<Promise<unknown>> = [];
    const results: Array<Promise<{ c: StoriesGoldenCase; tokens: number[] | undefined }>> = [];
    const fillers = ["One day", "Tom and Sue", "The little dog", "Once there was", "A big"];
    // Start the 3 goldens and 5 fillers staggered: each starts after the previous produced 2 tokens.
    const all = [...cases.map((c) => ({ c })), ...fillers.map((f) => ({ f }))];
    let gate: Promise<void> = Promise.resolve();
    for (const item of all) {
      await gate;
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      const prompt = "c" in item ? item.c.prompt_token_ids : await client.tokenize(item.f);
      const maxTokens = "c" in item ? item.c.max_tokens : 48;
      const p = (async () => {
        const tokens: number[] = [];
        let n = 0;
        for await (const out of client.generate(makeRequest(prompt, { maxTokens, ignoreEos: !("c" in item) }))) {
          for (const d of out.deltas) tokens.push(...d.tokenIds);
          if (++n === 2) release();
        }
        release();
        return tokens;
      })();
      pending.push(p);
      if ("c" in item) results.push(p.then((tokens) => ({ c: item.c, tokens })));
    }
    await Promise.all(pending);
    for (const r of await Promise.all(results)) expect(r.tokens).toEqual(r.c.completion_token_ids);
    const stats = await client.stats();
    expect(stats.numRunning).toBe(0);
  });

  it("gives identical tokens from the prefix cache and computes fewer prompt tokens", async () => {
    const c = cases[1]!;
    // Its own first run: under the batched load above, entries never reused get only a small share of
    // the cache, so the test does not rely on what that left.
    await run(c);
    const before = await client.stats();
    const again = await run(c);
    const after = await client.stats();
    expect(again.tokenIds[0]).toEqual(c.completion_token_ids);
    expect(again.outputs.at(-1)!.numCachedTokens).toBe(c.prompt_token_ids.length - 1);
    expect(after.numPromptTokensComputed - before.numPromptTokensComputed).toBe(1);
    expect(after.prefixCacheHits - before.prefixCacheHits).toBe(c.prompt_token_ids.length - 1);
  });

  it("n = 3 greedy completions all equal the golden", async () => {
    const c = cases[2]!;
    const out = await collect(client, makeRequest(c.prompt_token_ids, { maxTokens: c.max_tokens, n: 3 }));
    for (let i = 0; i < 3; i++) expect(out.tokenIds[i]).toEqual(c.completion_token_ids);
  });

  it("stop strings end the text before the stop string, across token boundaries", async () => {
    const c = cases[0]!;
    const stop = "little girl";
    const out = await collect(client, makeRequest(c.prompt_token_ids, { maxTokens: c.max_tokens, stop: [stop] }));
    const full = c.completion_text;
    expect(out.text[0]).toBe(full.slice(0, full.indexOf(stop)));
    expect(out.finishReason[0]).toBe("stop");
    expect(out.stopReason[0]).toBe(stop);
  });
});

describe.skipIf(!have)("stories260K with a KV cache too small for everyone at once", () => {
  it("queues and preempts instead of failing, and every request still matches its golden", async () => {
    // 256 cells: each golden needs up to 82 cells, and 8 requests run concurrently.
    const small = await InProcessClient.create({
      ...defaultEngineConfig(model.path),
      threads: 1,
      maxModelLen: 128,
      kvCacheTokens: 256,
      enablePrefixCaching: false,
    });
    try {
      const runs = [...cases, ...cases, cases[0]!, cases[1]!].map((c) =>
        collect(small, makeRequest(c.prompt_token_ids, { maxTokens: c.max_tokens })).then((o) => ({ c, o })),
      );
      for (const { c, o } of await Promise.all(runs)) expect(o.tokenIds[0]).toEqual(c.completion_token_ids);
      const s = await small.stats();
      expect(s.numPreemptions).toBeGreaterThan(0);
      expect(s.kvCellsUsed).toBe(0);
    } finally {
      await small.close();
    }
  });
});
