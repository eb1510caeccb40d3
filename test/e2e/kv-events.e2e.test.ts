/**
 * herd as a model server for GIE's endpoint picker / llm-d's precise-prefix scorer, on a real `herd serve`
 * (stories260K): `--kv-events-config` publishes the prompt's blocks from the engine process, the render
 * endpoint gives the token ids the scorer hashes, and /metrics has `vllm:cache_config_info`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashBlock } from "../../src/engine/kv/block-tracker.js";
import { fixturePath } from "../fixtures/paths.js";
import { EventReplica, settle, freePort } from "../fixtures/kv-events.js";
import { startHerd, type HerdServer } from "./helpers/herd-server.js";

const modelPath = fixturePath("stories260K.gguf");
const BLOCK = 8;

describe.skipIf(!modelPath)("KV-cache events and render endpoints e2e (stories260K)", () => {
  let server: HerdServer;
  let replica: EventReplica;

  beforeAll(async () => {
    const port = await freePort();
    replica = new EventReplica(`tcp://127.0.0.1:${port}`, "kv-events", BLOCK);
    const kvEvents = { enable_kv_cache_events: true, publisher: "zmq", endpoint: `tcp://*:${port}`, topic: "kv-events" };
    server = await startHerd([
      modelPath as string,
      "--threads",
      "1",
      "--max-model-len",
      "512",
      "--kv-cache-tokens",
      "1024",
      "--block-size",
      String(BLOCK),
      "--kv-events-config",
      JSON.stringify(kvEvents),
    ]);
    await settle(500);
  });
  afterAll(async () => {
    await server?.stop();
    replica?.close();
  });

  it("publishes the blocks of the prompt /v1/completions/render tokenizes", async () => {
    const prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.";
    const render = await server.fetch("/v1/completions/render", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt }),
    });
    expect(render.status).toBe(200);
    const [rendered] = (await render.json()) as Array<{ token_ids: number[] }>;
    const ids = rendered!.token_ids;
    expect(ids.length).toBeGreaterThanOrEqual(2 * BLOCK);
    const res = await server.fetch("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt, max_tokens: 4, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    // What a precise-prefix scorer computes from the rendered ids: herd's chained block hashes.
    const want: bigint[] = [];
    for (let b = 0; (b + 1) * BLOCK <= ids.length; b++) want.push(hashBlock(want.at(-1) ?? null, ids.slice(b * BLOCK, (b + 1) * BLOCK)));
    await replica.waitFor(() => new Set([...replica.blocks, ...want]));
    for (const h of want) expect(replica.blocks.has(h)).toBe(true);
    const stored = replica.events.find((e) => e[0] === "BlockStored");
    expect(stored).toBeDefined();
    expect(stored?.[3]).toEqual(ids.slice(0, ((stored?.[1] ?? []) as unknown[]).length * BLOCK));
    expect(replica.problems).toEqual([]);
  });

  it("/metrics has vllm:cache_config_info with the block size and the cache in blocks", async () => {
    const text = await (await server.fetch("/metrics")).text();
    expect(text).toMatch(new RegExp(`^vllm:cache_config_info\\{[^}]*block_size="${BLOCK}"[^}]*num_gpu_blocks="${1024 / BLOCK}"`, "m"));
    expect(text).toMatch(/^vllm:lora_requests_info\{/m);
  });
});
