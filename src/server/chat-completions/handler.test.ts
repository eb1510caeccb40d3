/**
 * `POST /v1/chat/completions` through `app.request()` over a scripted fake engine
 * (test/fixtures/fake-engine.ts): choices of n > 1, usage, logprobs, tool-call deltas, the stream
 * interval, and errors before and after the stream started.
 */
import { describe, expect, it } from "vitest";
import { CapacityError, EngineDeadError } from "../../common/errors.js";
import { fakeDetokenize, textScript } from "../../../test/fixtures/fake-engine.js";
import type { ChatCompletionChunk } from "../../protocol/responses.js";
import { assembleChoices, createTestApp, errorOf, postJson, readSSE, streamEvents, untilTurns } from "../../../test/fixtures/test-app.js";

const PATH = "/v1/chat/completions";
const hi = [{ role: "user", content: "Hi" }];

type Chunk = ChatCompletionChunk;
const chunksOf = (res: Response) => streamEvents<Chunk>(res);
/** Per choice index: the content deltas joined, and the finish reason. */
const assemble = (chunks: Chunk[]) =>
  assembleChoices(chunks, (c) => c.delta.content ?? "").map(({ text, finish }) => ({ content: text, finish }));

describe("chat completions: the prompt and the engine request", () => {
  it("renders the Llama 4 template, tokenizes it without a second BOS and asks for n completions", async () => {
    const { app, client } = await createTestApp();
    const res = await app.request(PATH, postJson({ messages: hi, n: 2, max_tokens: 7, temperature: 0 }));
    expect(res.status).toBe(200);
    const [req] = client.requests;
    expect(fakeDetokenize(req!.promptTokenIds, true)).toBe(
      "<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n",
    );
    expect(req!.sampling).toMatchObject({ n: 2, maxTokens: 7, temperature: 0 });
  });
});

describe("chat completions: n > 1", () => {
  const perChoice = (i: number) => [`choice ${i}`, ` says`, ` hi`];

  it("returns one choice per completion index (non-streamed)", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(perChoice, r) });
    const body = (await (await app.request(PATH, postJson({ messages: hi, n: 3 }))).json()) as {
      object: string;
      choices: Array<{ index: number; message: { role: string; content: string }; finish_reason: string }>;
    };
    expect(body.object).toBe("chat.completion");
    expect(body.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, "choice 0 says hi", "stop"],
      [1, "choice 1 says hi", "stop"],
      [2, "choice 2 says hi", "stop"],
    ]);
    expect(body.choices[0]?.message.role).toBe("assistant");
  });

  it("streams a role chunk per index first, then each index's deltas and finish reason", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(perChoice, r, { finishReason: "length" }) });
    const chunks = await chunksOf(await app.request(PATH, postJson({ messages: hi, n: 3, stream: true })));
    expect(chunks.slice(0, 3).map((c) => c.choices[0])).toEqual(
      [0, 1, 2].map((index) => expect.objectContaining({ index, delta: { role: "assistant", content: "" } })),
    );
    expect(assemble(chunks)).toEqual([0, 1, 2].map((i) => ({ content: `choice ${i} says hi`, finish: "length" })));
    // One choice per chunk, one id for the whole stream, and no usage unless asked for.
    for (const c of chunks) {
      expect(c.object).toBe("chat.completion.chunk");
      expect(c.choices).toHaveLength(1);
      expect(c.id).toBe(chunks[0]?.id);
      expect(c).not.toHaveProperty("usage");
    }
  });
});

describe("chat completions: usage", () => {
  const respond = (r: Parameters<typeof textScript>[1]) => textScript(["ab", "c"], r, { numCachedTokens: 4 });

  it("counts the prompt once, every completion's tokens, and the cached prompt tokens", async () => {
    const { app, client } = await createTestApp({ respond });
    const body = (await (await app.request(PATH, postJson({ messages: hi, n: 2 }))).json()) as { usage: unknown };
    const promptTokens = client.requests[0]!.promptTokenIds.length;
    expect(body.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: 2 * 3,
      total_tokens: promptTokens + 6,
      prompt_tokens_details: { cached_tokens: 4 },
    });
  });

  it("stream_options.include_usage: usage null on every chunk, then a last chunk with no choices and the usage", async () => {
    const { app, client } = await createTestApp({ respond });
    const chunks = await chunksOf(
      await app.request(PATH, postJson({ messages: hi, n: 2, stream: true, stream_options: { include_usage: true } })),
    );
    const last = chunks.at(-1)!;
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    expect(last.choices).toEqual([]);
    const promptTokens = client.requests[0]!.promptTokenIds.length;
    expect(last.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: 6,
      total_tokens: promptTokens + 6,
      prompt_tokens_details: { cached_tokens: 4 },
    });
  });

  it("accepts stream_options.continuous_usage_stats and still ends with the total usage", async () => {
    const { app } = await createTestApp({ respond });
    const chunks = await chunksOf(
      await app.request(
        PATH,
        postJson({ messages: hi, stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } }),
      ),
    );
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } });
  });
});

describe("chat completions: logprobs", () => {
  it("reports each token with top_logprobs alternatives, non-streamed and streamed", async () => {
    const { app, client } = await createTestApp({ respond: (r) => textScript(["ab", "c"], r) });
    const body = (await (await app.request(PATH, postJson({ messages: hi, logprobs: true, top_logprobs: 2 }))).json()) as {
      choices: Array<{ logprobs: { content: Array<{ token: string; logprob: number; top_logprobs: Array<{ token: string }> }> } }>;
    };
    expect(client.requests[0]!.sampling.logprobs).toBe(2);
    const content = body.choices[0]!.logprobs.content;
    expect(content.map((t) => [t.token, t.logprob, t.top_logprobs.length])).toEqual([
      ["a", -0.5, 2],
      ["b", -0.5, 2],
      ["c", -0.5, 2],
    ]);
    const chunks = await chunksOf(await app.request(PATH, postJson({ messages: hi, logprobs: true, top_logprobs: 1, stream: true })));
    const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
    expect(streamed.map((t) => t.token)).toEqual(["a", "b", "c"]);
  });
});

describe("chat completions: tool calls", () => {
  const tools = [
    {
      type: "function",
      function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
    },
  ];
  const call = ["[get_", "weather(city=", '"Par', 'is")]'];

  it("parses the pythonic call out of a non-streamed answer (finish_reason tool_calls)", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(call, r) });
    const body = (await (await app.request(PATH, postJson({ messages: hi, tools }))).json()) as {
      choices: Array<{
        message: { content: string | null; tool_calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> };
        finish_reason: string;
      }>;
    };
    const choice = body.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    const tc = choice.message.tool_calls[0]!;
    expect(tc).toMatchObject({ type: "function", function: { name: "get_weather" } });
    expect(tc.id).toBeTruthy();
    expect(JSON.parse(tc.function.arguments)).toEqual({ city: "Paris" });
  });

  it("streams the call as deltas: id, type and name first, then argument fragments; finish_reason tool_calls", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(call, r) });
    const chunks = await chunksOf(await app.request(PATH, postJson({ messages: hi, tools, stream: true })));
    const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.tool_calls ?? [])).flat();
    expect(deltas[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
    expect(deltas[0]?.id).toBeTruthy();
    expect(deltas.length).toBeGreaterThan(1); // the arguments arrive in fragments, as generated
    expect(deltas.slice(1).every((d) => d.index === 0 && d.id === undefined && d.function.name === undefined)).toBe(true);
    expect(JSON.parse(deltas.map((d) => d.function.arguments).join(""))).toEqual({ city: "Paris" });
    expect(assemble(chunks)[0]).toEqual({ content: "", finish: "tool_calls" });
  });

  it("plain text with tools is content, and finish_reason stays stop", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(["It is", " sunny."], r) });
    const chunks = await chunksOf(await app.request(PATH, postJson({ messages: hi, tools, stream: true })));
    expect(assemble(chunks)).toEqual([{ content: "It is sunny.", finish: "stop" }]);
  });
});

describe("chat completions: stream interval", () => {
  it("writes the first output at once, then every interval-th, and the rest at the end", async () => {
    const pieces = ["1", "2", "3", "4", "5", "6", "7"];
    const { app } = await createTestApp({ respond: (r) => textScript(pieces, r), flags: { streamInterval: "3" } });
    const writes = await readSSE(await app.request(PATH, postJson({ messages: hi, stream: true })));
    const shape = writes.map((w) =>
      w.map((e) => {
        if (e === "[DONE]") return e;
        const ch = (e as Chunk).choices[0]!;
        return ch.delta.role ? "role" : ch.finish_reason ? `finish:${ch.finish_reason}` : (ch.delta.content ?? "");
      }),
    );
    expect(shape).toEqual([["role"], ["1"], ["2", "3"], ["4", "5", "6"], ["7", "finish:stop"], ["[DONE]"]]);
  });

  it("with the default interval 1, every engine step is its own write", async () => {
    const { app } = await createTestApp({ respond: (r) => textScript(["1", "2", "3"], r) });
    const writes = await readSSE(await app.request(PATH, postJson({ messages: hi, stream: true })));
    expect(writes.map((w) => w.length)).toEqual([1, 1, 1, 2, 1]);
  });
});

describe("chat completions: errors", () => {
  it("an engine failure after output ends the stream with an OpenAI error event and no [DONE]; the lease is released", async () => {
    const { app, client, host } = await createTestApp({ respond: (r) => textScript(["Hel", "lo"], r, { error: new EngineDeadError() }) });
    const res = await app.request(PATH, postJson({ messages: hi, stream: true }));
    expect(res.status).toBe(200);
    const events = (await readSSE(res)).flat();
    expect(events).not.toContain("[DONE]");
    expect(assemble(events.slice(0, -1) as Chunk[])).toEqual([{ content: "Hello", finish: null }]);
    expect(events.at(-1)).toEqual({
      error: { message: expect.stringContaining("engine"), type: "server_error", param: null, code: "engine_dead" },
    });
    expect(client.calls[0]?.outcome).toBe("failed");
    expect(host.numInFlight).toBe(0);
  });

  it("an engine failure after output fails a non-streamed request with the mapped status", async () => {
    const { app, host } = await createTestApp({ respond: (r) => textScript(["Hel", "lo"], r, { error: new EngineDeadError() }) });
    const res = await app.request(PATH, postJson({ messages: hi }));
    expect(res.status).toBe(500);
    expect((await errorOf(res)).code).toBe("engine_dead");
    expect(host.numInFlight).toBe(0);
  });

  it("a failure before any output gets its own status, not a 200 stream", async () => {
    const { app, host } = await createTestApp({ respond: () => ({ steps: [], error: new CapacityError("The engine queue is full.") }) });
    const res = await app.request(PATH, postJson({ messages: hi, stream: true }));
    expect(res.status).toBe(429);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await errorOf(res)).toMatchObject({ type: "rate_limit_error", code: "queue_full" });
    expect(host.numInFlight).toBe(0);
  });

  it("a client that goes away mid-stream ends the engine request and releases the lease", async () => {
    const { app, client, host } = await createTestApp({
      respond: (r) =>
        textScript(
          Array.from({ length: 100 }, () => "x"),
          r,
        ),
    });
    const res = await app.request(PATH, postJson({ messages: hi, stream: true }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await untilTurns(() => client.calls[0]?.outcome !== "running");
    expect(client.calls[0]?.outcome).toMatch(/^(aborted|closed)$/);
    expect(client.calls[0]?.steps).toBeLessThan(100);
    expect(host.numInFlight).toBe(0);
  });

  it.each([
    ["n below 1", { n: 0 }, 400, "n"],
    ["n above --max-n", { n: 17 }, 400, "n"],
    ["top_logprobs without logprobs", { top_logprobs: 2 }, 400, "top_logprobs"],
    ["max_completion_tokens beyond the context (context_length_exceeded)", { max_completion_tokens: 40_000 }, 400, "messages"],
    [
      "an unknown tool_choice function",
      { tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } },
      400,
      "tool_choice",
    ],
    ["a model this server does not serve", { model: "gpt-4o" }, 404, "model"],
  ])("refuses %s (no engine request)", async (_name, extra, status, param) => {
    const { app, client, host } = await createTestApp();
    const res = await app.request(PATH, postJson({ messages: hi, ...extra }));
    expect(res.status).toBe(status);
    const err = await errorOf(res);
    expect(err.param).toBe(param);
    expect(err.message.length).toBeGreaterThan(10);
    expect(client.calls).toHaveLength(0);
    expect(host.numInFlight).toBe(0);
  });
});
