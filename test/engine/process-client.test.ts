/**
 * The engine in its own process: a llama.cpp abort kills only the child; every in-flight request
 * fails with EngineDeadError, the client reports it, and a new engine can be started.
 */
import { describe, expect, it } from "vitest";
import { engineEnv, ProcessClient } from "../../src/engine/client/process-client.js";
import { defaultEngineConfig } from "../../src/engine/config.js";
import { ContextLengthExceededError, EngineDeadError, InvalidRequestError } from "../../src/common/errors.js";
import { collect, makeRequest } from "../fixtures/engine.js";
import { sharedFixture } from "../fixtures/paths.js";

const model = sharedFixture("stories260K.gguf");
const config = () => ({ ...defaultEngineConfig(model.path), threads: 1, maxModelLen: 512 });

describe("engineEnv", () => {
  it("asks glibc for huge pages in the engine process, keeping other tunables and a hugetlb value already set", () => {
    expect(engineEnv({ PATH: "/bin" })).toEqual({ PATH: "/bin", GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" });
    expect(engineEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }).GLIBC_TUNABLES).toBe(
      "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1",
    );
    expect(engineEnv({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" }).GLIBC_TUNABLES).toBe("glibc.malloc.hugetlb=0");
  });
});

describe.skipIf(!model.present)("ProcessClient", () => {
  it("serves requests from a child process, validates before sending, and shuts down", async () => {
    const client = await ProcessClient.create(config());
    expect(client.modelInfo.vocabSize).toBe(512);
    const ids = await client.tokenize("Once upon a time");
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    const out = await collect(client, makeRequest(ids, { maxTokens: 8 }));
    expect(out.tokenIds[0]).toEqual([432, 383, 286, 261, 376, 298, 315, 421]);
    expect(await client.detokenize(out.tokenIds[0]!)).toBe(out.text[0]);
    expect(out.text[0]).toBe(", there was a little girl");
    await expect(collect(client, makeRequest(ids, { temperature: -1 }))).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(collect(client, makeRequest([1, 99999]))).rejects.toThrow(/outside the vocabulary/);
    // The engine process's rejections keep their class, param and counts (engine/errors.ts).
    const rejected = await collect(client, makeRequest([1, 99999])).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(InvalidRequestError);
    expect(rejected).toMatchObject({ param: "prompt" });
    const tooLong = await collect(client, makeRequest(new Array(600).fill(403))).catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(ContextLengthExceededError);
    expect(tooLong).toMatchObject({ numPromptTokens: 600, maxModelLen: 512, code: "context_length_exceeded" });
    await client.close();
    expect(client.isAlive()).toBe(false);
  });

  it("tokenizes in the caller's process: answers while the engine process is stopped", async () => {
    const client = await ProcessClient.create(config());
    const pid = client.pid as number;
    process.kill(pid, "SIGSTOP");
    try {
      // An IPC round trip would hang here until SIGCONT.
      expect(await client.tokenize("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
      expect(await client.tokenize("<s>Once", { addSpecial: false, parseSpecial: true })).toEqual([1, 403]);
      expect(await client.detokenize([403, 407, 261, 378])).toBe(" Once upon a time"); // SentencePiece keeps the word-start space
      await expect(client.detokenize([1, 99999])).rejects.toBeInstanceOf(InvalidRequestError);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await client.close();
  });

  it("reports a llama.cpp abort as engine death to every in-flight request, and a new engine starts", async () => {
    process.env.HERD_ENABLE_TEST_HOOKS = "1";
    const client = await ProcessClient.create(config());
    let deadCause: Error | null = null;
    client.onDead((e) => (deadCause = e));
    const ids = await client.tokenize("Once upon a time");
    let crashed = false;
    const inflight = [1, 2, 3].map(async () => {
      for await (const _ of client.generate(makeRequest(ids, { maxTokens: 500, ignoreEos: true }))) {
        if (!crashed) {
          crashed = true;
          client.crashForTest();
        }
      }
    });
    const results = await Promise.allSettled(inflight);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(EngineDeadError);
    }
    expect(client.isAlive()).toBe(false);
    expect(String(deadCause)).toMatch(/SIGABRT/);
    await expect(collect(client, makeRequest(ids))).rejects.toBeInstanceOf(EngineDeadError);
    const fresh = await ProcessClient.create(config());
    const out = await collect(fresh, makeRequest(ids, { maxTokens: 4 }));
    expect(out.tokenIds[0]).toEqual([432, 383, 286, 261]);
    await fresh.close();
    await client.close();
  });
});
