/**
 * `POST /v1/completions` through `app.request()` over a scripted fake engine
 * (test/fixtures/fake-engine.ts): choice indices for batched prompts × n, echo, usage, logprobs, the
 * stream interval, and errors before and after the stream started.
 */
import { describe, expect, it } from "vitest";
import { EngineDeadError, InternalError } from "../../common/errors.js";
import type { EngineRequest } from "../../engine/types.js";
import { fakeDetokenize, fakeTokenize, textScript } from "../../../test/fixtures/fake-engine.js";
import type { Completion, CompletionChunk } from "../../protocol/responses.js";
import { assembleChoices, createTestApp, errorOf, postJson, readSSE, streamEvents } from "../../../test/fixtures/test-app.js";

const PATH = "/v1/completions";

type Body = Completion;

/** The prompt's text as the engine got it (without the BOS the tokenizer added). */
const promptOf = (r: EngineRequest) => fakeDetokenize(r.promptTokenIds);

/** Each completion answers `<prompt>/<completion index>` in two steps. */
const labelled = (r: EngineRequest) => textScript((i) => [`${promptOf(r)}/`, `${i}`], r);

const eventsOf = (res: Response) => streamEvents<CompletionChunk>(res);
const assemble = (events: CompletionChunk[]) => assembleChoices(events, (c) => c.text);

describe("completions: choice indices (prompt index × n + completion index)", () => {
  const expected = ["a/0", "a/1", "a/2", "b/0", "b/1", "b/2"];

  it("non-streamed: two prompts, n = 3", async () => {
    const { app, client } = await createTestApp({ respond: labelled });
    const body = (await (await app.request(PATH, postJson({ prompt: ["a", "b"], n: 3 }))).json()) as Body;
    expect(body.object).toBe("text_completion");
    expect(body.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual(expected.map((t, i) => [i, t, "stop"]));
    // One engine request per prompt, each asking for n completions.
    expect(client.requests.map((r) => [promptOf(r), r.sampling.n])).toEqual([
      ["a", 3],
      ["b", 3],
    ]);
  });

  it("streamed: two prompts, n = 3", async () => {
    const { app } = await createTestApp({ respond: labelled });
    const events = await eventsOf(await app.request(PATH, postJson({ prompt: ["a", "b"], n: 3, stream: true })));
    expect(assemble(events)).toEqual(expected.map((text) => ({ text, finish: "stop" })));
    for (const e of events) {
      expect(e.object).toBe("text_completion");
      expect(e.choices).toHaveLength(1);
      expect(e.id).toBe(events[0]?.id);
      expect(e).not.toHaveProperty("usage");
    }
  });

  it("token-id prompts (one list, and a list of lists) go to the engine as given", async () => {
    const { app, client } = await createTestApp({ respond: labelled });
    await app.request(PATH, postJson({ prompt: [104, 105] }));
    await app.request(PATH, postJson({ prompt: [[104], [105, 106]] }));
    expect(client.requests.map((r) => r.promptTokenIds)).toEqual([[104, 105], [104], [105, 106]]);
  });
});

describe("completions: echo", () => {
  it("puts the prompt before each choice's text (non-streamed and streamed)", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript([" world", "!"], r) });
    const body = (await (await app.request(PATH, postJson({ prompt: ["Hello", "Bye"], n: 2, echo: true }))).json()) as Body;
    expect(body.choices.map((c) => c.text)).toEqual(["Hello world!", "Hello world!", "Bye world!", "Bye world!"]);
    const events = await eventsOf(await app.request(PATH, postJson({ prompt: ["Hello", "Bye"], n: 2, echo: true, stream: true })));
    expect(assemble(events).map((c) => c.text)).toEqual(["Hello world!", "Hello world!", "Bye world!", "Bye world!"]);
    // The prompt goes out once per choice, with that choice's first delta.
    const first = events.filter((e) => e.choices[0]?.index === 0);
    expect(first[0]?.choices[0]?.text).toBe("Hello world");
  });

  it("echoes a token-id prompt as its text", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(["!"], r) });
    const body = (await (await app.request(PATH, postJson({ prompt: fakeTokenize("Hi there"), echo: true }))).json()) as Body;
    expect(body.choices[0]?.text).toBe("Hi there!");
  });
});

describe("completions: usage", () => {
  const respond = (r: EngineRequest) => textScript(["ab", "cd"], r, { numCachedTokens: promptOf(r).length });

  it("sums every prompt (with its BOS), every completion's tokens and the cached tokens", async () => {
    const { app } = await createTestApp({ respond });
    const body = (await (await app.request(PATH, postJson({ prompt: ["abc", "de"], n: 2 }))).json()) as Body;
    // Prompts: BOS + 3 and BOS + 2 tokens; 2 prompts × 2 completions × 4 tokens; cached: 3 + 2.
    expect(body.usage).toEqual({ prompt_tokens: 7, completion_tokens: 16, total_tokens: 23, prompt_tokens_details: { cached_tokens: 5 } });
  });

  it("stream_options.include_usage: usage null on every chunk, then the total in a last chunk without choices", async () => {
    const { app } = await createTestApp({ respond });
    const events = await eventsOf(
      await app.request(PATH, postJson({ prompt: ["abc", "de"], n: 2, stream: true, stream_options: { include_usage: true } })),
    );
    for (const e of events.slice(0, -1)) expect(e.usage).toBeNull();
    expect(events.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 7, completion_tokens: 16, total_tokens: 23, prompt_tokens_details: { cached_tokens: 5 } },
    });
  });

  it("accepts stream_options.continuous_usage_stats and still ends with the total usage", async () => {
    const { app } = await createTestApp({ respond });
    const events = await eventsOf(
      await app.request(
        PATH,
        postJson({ prompt: "abc", stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } }),
      ),
    );
    expect(events.at(-1)?.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 4 });
  });
});

describe("completions: logprobs", () => {
  it("reports tokens, their logprobs, the top alternatives and text offsets across steps", async () => {
    const { app, client } = await createTestApp({ respond: (r) => textScript(["ab", "c"], r) });
    const body = (await (await app.request(PATH, postJson({ prompt: "x", logprobs: 2 }))).json()) as Body;
    expect(client.requests[0]?.sampling.logprobs).toBe(2);
    const lp = body.choices[0]?.logprobs;
    expect(lp?.tokens).toEqual(["a", "b", "c"]);
    expect(lp?.token_logprobs).toEqual([-0.5, -0.5, -0.5]);
    expect(lp?.text_offset).toEqual([0, 1, 2]);
    expect(lp?.top_logprobs.map((t) => Object.keys(t).length)).toEqual([2, 2, 2]);
    const events = await eventsOf(await app.request(PATH, postJson({ prompt: "x", logprobs: 0, stream: true })));
    expect(events.flatMap((e) => e.choices[0]?.logprobs?.text_offset ?? [])).toEqual([0, 1, 2]);
  });
});

describe("completions: stream interval", () => {
  it("coalesces engine steps into writes: the first at once, then every interval-th, the rest at the end", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(["1", "2", "3", "4", "5"], r), flags: { streamInterval: "2" } });
    const writes = await readSSE(await app.request(PATH, postJson({ prompt: "x", stream: true })));
    expect(writes.map((w) => w.map((e) => (e === "[DONE]" ? e : (e as Body).choices[0]?.text)))).toEqual([
      ["1"],
      ["2"],
      ["3", "4"],
      ["5"],
      ["[DONE]"],
    ]);
  });
});

describe("completions: errors", () => {
  it("a failure mid-stream ends it with an error event (no [DONE]) and aborts the request's other prompts", async () => {
    const { app, client, host } = await createTestApp({
      respond: (r) =>
        promptOf(r) === "bad"
          ? textScript(["x"], r, { error: new InternalError("decode failed") })
          : textScript(
              Array.from({ length: 50 }, () => "y"),
              r,
            ),
    });
    const res = await app.request(PATH, postJson({ prompt: ["good", "bad"], stream: true }));
    expect(res.status).toBe(200);
    const events = (await readSSE(res)).flat();
    expect(events).not.toContain("[DONE]");
    expect(events.at(-1)).toMatchObject({ error: { message: "decode failed", type: "server_error", param: null } });
    expect(client.calls.map((c) => c.outcome)).toEqual([expect.stringMatching(/^(aborted|closed)$/), "failed"]);
    expect(client.calls[0]?.steps).toBeLessThan(50);
    expect(host.numInFlight).toBe(0);
  });

  it("a failure mid-generation of a non-streamed request is an error response", async () => {
    const { app, host } = await createTestApp({ respond: (r) => textScript(["x", "y"], r, { error: new EngineDeadError() }) });
    const res = await app.request(PATH, postJson({ prompt: "hi" }));
    expect(res.status).toBe(500);
    expect(await errorOf(res)).toMatchObject({ type: "server_error", code: "engine_dead" });
    expect(host.numInFlight).toBe(0);
  });

  it.each([
    ["suffix", { suffix: "x" }, "suffix"],
    ["best_of other than n", { best_of: 3 }, "best_of"],
    ["echo with logprobs", { echo: true, logprobs: 1 }, "echo"],
    ["a token id outside the vocabulary", { prompt: [1, 300_000] }, "prompt"],
    ["an empty prompt list", { prompt: [] }, "prompt"],
    ["an empty token list", { prompt: [[1], []] }, "prompt"],
    ["more than 64 prompts", { prompt: Array.from({ length: 65 }, () => "x") }, "prompt"],
    ["logprobs above --max-logprobs", { logprobs: 21 }, "logprobs"],
    ["max_tokens beyond the context (context_length_exceeded)", { max_tokens: 40_000 }, "messages"],
  ])("refuses %s with 400 (no engine request)", async (_name, extra, param) => {
    const { app, client, host } = await createTestApp();
    const res = await app.request(PATH, postJson({ prompt: "hi", ...extra }));
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.type).toBe("invalid_request_error");
    expect(err.param).toBe(param);
    expect(client.calls).toHaveLength(0);
    expect(host.numInFlight).toBe(0);
  });
});
