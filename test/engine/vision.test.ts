/**
 * The engine with the embedded Llama 4's vision tower: image tiles are encoded by llama.cpp's mtmd
 * (libmtmd built against the prebuilt libraries on first use) and their embeddings fill the prompt's
 * <|patch|> positions; prefix reuse keys on image content.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { ensureEmbeddedMmproj, ensureEmbeddedModel } from "../../src/model/embedded.js";
import type { ImageInput } from "../../src/engine/types.js";
import { collect, makeRequest } from "../fixtures/engine.js";

let client: InProcessClient;

beforeAll(async () => {
  const [model, mmproj] = await Promise.all([ensureEmbeddedModel(), ensureEmbeddedMmproj()]);
  client = await InProcessClient.create({ ...defaultEngineConfig(model), mmproj, maxModelLen: 2048, maxNumSeqs: 4, threads: 1 });
}, 900_000);
afterAll(async () => {
  await client?.close();
});

function tile(seed: number, size: number): Uint8Array {
  const t = new Uint8Array(size * size * 3);
  for (let i = 0; i < t.length; i++) t[i] = (i * 31 + seed * 97) & 255;
  return t;
}

async function imagePrompt(numTiles: number): Promise<number[]> {
  const v = client.modelInfo.vision!;
  const [start, img, end] = await Promise.all(
    ["<|image_start|>", "<|image|>", "<|image_end|>"].map((t) => client.tokenize(t, { addSpecial: false })),
  );
  const patches: number[] = [];
  for (let k = 0; k < numTiles; k++) patches.push(...new Array(v.embeddingsPerTile).fill(v.placeholderTokenId));
  return [
    ...(await client.tokenize("Look:")),
    ...start!,
    ...img!,
    ...patches,
    ...end!,
    ...(await client.tokenize(" What is it?", { addSpecial: false })),
  ];
}

describe("image input on the embedded Llama 4", () => {
  it("reports its vision projector", () => {
    const v = client.modelInfo.vision!;
    expect(v.placeholderTokenId).toBe(200092);
    expect(v.embeddingsPerTile).toBeGreaterThan(0);
    expect(v.tileSize).toBeGreaterThan(0);
  });

  it("generates from an image, reuses KV for the same image and not for a different one", async () => {
    const v = client.modelInfo.vision!;
    const prompt = await imagePrompt(1);
    const img = (hash: string, seed: number): ImageInput => ({ hash, tileSize: v.tileSize, tiles: [tile(seed, v.tileSize)] });
    const a = await collect(client, { ...makeRequest(prompt, { maxTokens: 6, ignoreEos: true }), images: [img("a", 1)] });
    expect(a.tokenIds[0]).toHaveLength(6);
    const again = await collect(client, { ...makeRequest(prompt, { maxTokens: 6, ignoreEos: true }), images: [img("a", 1)] });
    expect(again.tokenIds[0]).toEqual(a.tokenIds[0]);
    expect(again.outputs.at(-1)!.numCachedTokens).toBe(prompt.length - 1);
    const other = await collect(client, { ...makeRequest(prompt, { maxTokens: 6, ignoreEos: true }), images: [img("b", 2)] });
    const firstPatch = prompt.indexOf(v.placeholderTokenId);
    expect(other.outputs.at(-1)!.numCachedTokens).toBe(firstPatch);
  });

  it("refuses a tile count that does not match the placeholders", async () => {
    const v = client.modelInfo.vision!;
    const prompt = await imagePrompt(1);
    const two: ImageInput = { hash: "c", tileSize: v.tileSize, tiles: [tile(3, v.tileSize), tile(4, v.tileSize)] };
    await expect(collect(client, { ...makeRequest(prompt), images: [two] })).rejects.toThrow(/image placeholder tokens/);
  });
});
