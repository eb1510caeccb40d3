/**
 * The engine on the embedded random-weight Llama 4 (MoE + shared expert, NoPE layers, chunked
 * attention, 202k vocabulary): greedy output is the same alone and batched, prefix reuse keeps it,
 * Llama 4's stop ids end generation, and seeded sampling is reproducible.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InProcessClient } from "../../src/engine/client/in-process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { ensureEmbeddedModel } from "../../src/model/embedded.js";
import { collect, makeRequest } from "../fixtures/engine.js";

let client: InProcessClient;

beforeAll(async () => {
  const path = await ensureEmbeddedModel();
  client = await InProcessClient.create({ ...defaultEngineConfig(path), maxModelLen: 1024, maxNumSeqs: 8, threads: 1 });
});
afterAll(async () => {
  await client?.close();
});

describe("embedded Llama 4 model", () => {
  it("is a llama4 model with Llama 4's stop ids and chat template", () => {
    const info = client.modelInfo;
    expect(info.architecture).toBe("llama4");
    expect(info.vocabSize).toBe(202048);
    expect(info.eogTokenIds).toEqual(expect.arrayContaining([200001, 200007, 200008]));
    expect(info.chatTemplate).toContain("<|header_start|>");
    expect(info.metadata["herd.random_weights"]).toBe("true");
  });

  it("greedy tokens are identical alone and batched with 7 others", async () => {
    const prompts = await Promise.all(
      ["Hello there", "The capital of France is", "1 2 3 4", "Once upon a time", "def f(x):", "¿Qué tal?", "A B C", "zzz"].map((t) =>
        client.tokenize(t),
      ),
    );
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await collect(client, makeRequest(p, { maxTokens: 24, ignoreEos: true }))).tokenIds[0]!);
    const batched = await Promise.all(prompts.map((p) => collect(client, makeRequest(p, { maxTokens: 24, ignoreEos: true }))));
    for (const [i, b] of batched.entries()) expect(b.tokenIds[0]).toEqual(alone[i]);
  });

  it("seeded sampling is reproducible and n completions differ from each other", async () => {
    const p = await client.tokenize("Tell me a story");
    const a = await collect(client, makeRequest(p, { temperature: 1, topP: 0.95, seed: 42, n: 3, maxTokens: 12, ignoreEos: true }));
    const b = await collect(client, makeRequest(p, { temperature: 1, topP: 0.95, seed: 42, n: 3, maxTokens: 12, ignoreEos: true }));
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(new Set(a.tokenIds.map((t) => t.join(","))).size).toBeGreaterThan(1);
  });

  it("stops on <|eot|> when the model is forced to emit it, without leaking text", async () => {
    const p = await client.tokenize("Say hi");
    const out = await collect(client, makeRequest(p, { maxTokens: 10, logitBias: { 200008: 100 } }));
    expect(out.tokenIds[0]).toEqual([200008]);
    expect(out.finishReason[0]).toBe("stop");
    expect(out.text[0]).toBe("");
  });

  it("logprobs report the chosen token and top alternatives with bytes", async () => {
    const p = await client.tokenize("Hello");
    const out = await collect(client, makeRequest(p, { maxTokens: 3, logprobs: 5, ignoreEos: true }));
    const lps = out.outputs.flatMap((o) => o.deltas.flatMap((d) => d.logprobs ?? []));
    expect(lps).toHaveLength(3);
    for (const lp of lps) {
      expect(lp.top).toHaveLength(5);
      expect(lp.top[0]!.tokenId).toBe(lp.tokenId); // greedy picks the most likely
      expect(lp.logprob).toBeLessThanOrEqual(0);
      expect(lp.bytes.length).toBeGreaterThan(0);
    }
  });
});

describe("grammar-constrained generation on the embedded Llama 4", () => {
  it("random weights still produce output the grammar allows, then stop", async () => {
    const grammar = 'root ::= "{\\"answer\\": " ("true" | "false") "}"';
    const p = await client.tokenize("Answer in JSON");
    for (const temperature of [0, 1]) {
      const out = await collect(client, makeRequest(p, { grammar, temperature, seed: 7, maxTokens: 40 }));
      expect(out.text[0]).toMatch(/^\{"answer": (true|false)\}$/);
      expect(out.finishReason[0]).toBe("stop");
    }
  });

  it("refuses a grammar llama.cpp cannot parse with a clear error", async () => {
    const p = await client.tokenize("x");
    await expect(collect(client, makeRequest(p, { grammar: "root ::= (" }))).rejects.toThrow(/invalid grammar/);
  });
});
