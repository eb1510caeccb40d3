import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type OpenAI from "openai";
import { getMetric, startHerd, waitFor, type HerdServer } from "./helpers/herd-server.js";
import { fixturePath, readStoriesGoldens } from "../fixtures/paths.js";

const modelPath = fixturePath("stories260K.gguf");
const goldenPath = fixturePath("stories260K.golden.json");

describe.skipIf(!modelPath || !goldenPath)("completions e2e (stories260K)", () => {
  let server: HerdServer;
  let client: OpenAI;
  const golden = { cases: goldenPath ? readStoriesGoldens(goldenPath) : [] };

  beforeAll(async () => {
    server = await startHerd([modelPath as string, "--max-num-seqs", "16", "--threads", "1"]);
    client = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("reproduces the greedy goldens token for token", async () => {
    for (const g of golden.cases) {
      const r = await client.completions.create({ model: "stories260K", prompt: g.prompt, max_tokens: g.max_tokens, temperature: 0 });
      expect(r.choices[0]?.text).toBe(g.completion_text);
      expect(r.choices[0]?.finish_reason).toBe(g.finish_reason);
      expect(r.usage).toMatchObject({ prompt_tokens: g.prompt_token_ids.length, completion_tokens: g.completion_token_ids.length });
    }
  });

  it("reproduces the goldens batched in one request, and from token-id prompts", async () => {
    const maxTokens = Math.min(...golden.cases.map((g) => g.max_tokens));
    const r = await client.completions.create({
      model: "stories260K",
      prompt: golden.cases.map((g) => g.prompt),
      max_tokens: maxTokens,
      temperature: 0,
    });
    expect(r.choices).toHaveLength(golden.cases.length);
    const ids = await client.completions.create({
      model: "stories260K",
      prompt: golden.cases.map((g) => g.prompt_token_ids),
      max_tokens: maxTokens,
      temperature: 0,
    });
    for (const [i, g] of golden.cases.entries()) {
      const expected = (await detokenize(server, g.completion_token_ids.slice(0, maxTokens))).prompt;
      expect(r.choices.find((c) => c.index === i)?.text).toBe(expected);
      expect(ids.choices.find((c) => c.index === i)?.text).toBe(expected);
    }
  });

  it("streams the same text as the non-streaming response", async () => {
    const g = golden.cases[0];
    if (!g) return;
    const stream = await client.completions.create({
      model: "stories260K",
      prompt: g.prompt,
      max_tokens: g.max_tokens,
      temperature: 0,
      stream: true,
    });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(g.completion_text);
    expect(finish).toBe("length");
  });

  it("n=3 with a seed is reproducible, and the choices differ from each other", async () => {
    const req = { model: "stories260K", prompt: "Once upon a time", max_tokens: 24, temperature: 1, n: 3, seed: 1234 } as const;
    const a = await client.completions.create(req);
    const b = await client.completions.create(req);
    const texts = (r: typeof a) => [...r.choices].sort((x, y) => x.index - y.index).map((c) => c.text);
    expect(a.choices.map((c) => c.index).sort()).toEqual([0, 1, 2]);
    expect(texts(a)).toEqual(texts(b));
    expect(new Set(texts(a)).size).toBeGreaterThan(1);
    expect(a.usage?.completion_tokens).toBe(a.choices.length * 24);
    const s = await client.completions.create({ ...req, stream: true });
    const streamed = ["", "", ""];
    for await (const chunk of s) for (const c of chunk.choices) streamed[c.index] += c.text;
    expect(streamed).toEqual(texts(a));
  });

  it("stops at a stop string and leaves it out of the text", async () => {
    const g = golden.cases[0];
    if (!g) return;
    const r = await client.completions.create({
      model: "stories260K",
      prompt: g.prompt,
      max_tokens: g.max_tokens,
      temperature: 0,
      stop: ["Lily"],
    });
    expect(r.choices[0]?.text).toBe(g.completion_text.slice(0, g.completion_text.indexOf("Lily")));
    expect(r.choices[0]?.finish_reason).toBe("stop");
    expect((r.choices[0] as unknown as { stop_reason: unknown }).stop_reason).toBe("Lily");
    const s = await client.completions.create({
      model: "stories260K",
      prompt: g.prompt,
      max_tokens: g.max_tokens,
      temperature: 0,
      stop: "play",
      stream: true,
    });
    let text = "";
    for await (const chunk of s) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(g.completion_text.slice(0, g.completion_text.indexOf("play")));
  });

  it("returns logprobs in OpenAI's completions shape", async () => {
    const r = await client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 6,
      temperature: 0,
      logprobs: 3,
    });
    const lp = r.choices[0]?.logprobs;
    expect(lp).toBeTruthy();
    if (!lp) return;
    expect(lp.tokens).toHaveLength(6);
    expect(lp.token_logprobs).toHaveLength(6);
    expect(lp.top_logprobs).toHaveLength(6);
    expect(lp.text_offset).toHaveLength(6);
    expect(lp.tokens?.join("")).toBe(r.choices[0]?.text);
    lp.token_logprobs?.forEach((x) => expect(x).toBeLessThanOrEqual(0));
    lp.top_logprobs?.forEach((top, i) => {
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
      // Greedy: the chosen token is the most likely one.
      expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs?.[i] ?? 0, 5);
    });
    let offset = 0;
    lp.tokens?.forEach((t, i) => {
      expect(lp.text_offset?.[i]).toBe(offset);
      offset += t.length;
    });
  });

  it("reports usage equal to /tokenize's count, in every final response and with include_usage", async () => {
    const prompt = "The little dog ran to the park and";
    const tok = (await (await server.fetch("/tokenize", { method: "POST", body: JSON.stringify({ prompt }) })).json()) as {
      count: number;
      tokens: number[];
    };
    const r = await client.completions.create({ model: "stories260K", prompt, max_tokens: 5, temperature: 0 });
    expect(r.usage?.prompt_tokens).toBe(tok.count);
    expect(r.usage?.total_tokens).toBe(tok.count + 5);
    const s = await client.completions.create({
      model: "stories260K",
      prompt,
      max_tokens: 5,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of s) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(usage).toMatchObject({ prompt_tokens: tok.count, completion_tokens: 5, total_tokens: tok.count + 5 });
  });

  it("passes sampling fields through to the engine (logit_bias, penalties, top_k, stop_token_ids, min_tokens)", async () => {
    const g = golden.cases[1]; // "I believe the meaning of life is": greedy output repeats itself
    if (!g) return;
    const base = { model: "stories260K", prompt: g.prompt, max_tokens: g.max_tokens, temperature: 0 };
    const text = async (extra: Record<string, unknown>) => {
      const r = await client.completions.create({ ...base, ...extra } as OpenAI.CompletionCreateParamsNonStreaming);
      return { text: r.choices[0]?.text ?? "", finish: r.choices[0]?.finish_reason, tokens: r.usage?.completion_tokens };
    };
    const forced = g.completion_token_ids[0] === 400 ? 401 : 400;
    const forcedText = (await detokenize(server, [forced, forced, forced])).prompt;
    expect((await text({ max_tokens: 3, logit_bias: { [String(forced)]: 100 } })).text).toBe(forcedText);
    expect((await text({ repetition_penalty: 1.5 })).text).not.toBe(g.completion_text);
    expect((await text({ presence_penalty: 2, frequency_penalty: 2 })).text).not.toBe(g.completion_text);
    expect((await text({ temperature: 1, top_k: 1, seed: 3 })).text).toBe(g.completion_text);
    const stopId = g.completion_token_ids[3] as number;
    const stopped = await text({ stop_token_ids: [stopId] });
    expect(stopped.finish).toBe("stop");
    expect(stopped.tokens).toBe(4); // the stop token counts, its text is not shown
    const eos = await text({ prompt: "Once upon a time", max_tokens: 200, min_tokens: 150 });
    expect(eos.tokens).toBeGreaterThanOrEqual(150);
  });

  it("echo prepends the prompt", async () => {
    const r = await client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 3,
      temperature: 0,
      echo: true,
    });
    expect(r.choices[0]?.text.startsWith("Once upon a time,")).toBe(true);
  });

  it("runs 16 concurrent streams to completion", async () => {
    const g = golden.cases[0];
    if (!g) return;
    const one = async () => {
      const s = await client.completions.create({ model: "stories260K", prompt: g.prompt, max_tokens: 32, temperature: 0, stream: true });
      let text = "";
      let finish: string | null = null;
      for await (const chunk of s) {
        text += chunk.choices[0]?.text ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { text, finish };
    };
    const results = await Promise.all(Array.from({ length: 16 }, one));
    const expected = (await detokenize(server, g.completion_token_ids.slice(0, 32))).prompt;
    for (const r of results) expect(r).toEqual({ text: expected, finish: "length" });
  });

  it("sends x-request-id and the SSE head on Node's own response (JSON, stream, errors)", async () => {
    const post = (body: object, id: string) =>
      server.fetch("/v1/completions", {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": id },
        body: JSON.stringify(body),
      });
    const json = await post({ prompt: "Once upon a time", max_tokens: 2, temperature: 0 }, "req-json");
    expect(json.headers.get("x-request-id")).toBe("req-json");
    expect(json.headers.get("content-type")).toContain("application/json");
    expect((await json.json()) as object).toHaveProperty("choices");
    const sse = await post({ prompt: "Once upon a time", max_tokens: 3, temperature: 0, stream: true }, "req-sse");
    expect(sse.headers.get("x-request-id")).toBe("req-sse");
    expect(sse.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(sse.headers.get("cache-control")).toBe("no-cache");
    const text = await sse.text();
    expect(text.match(/^data: \{/gm)).toHaveLength(3);
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    const bad = await post({ prompt: "x", max_tokens: -1 }, "req-bad");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-request-id")).toBe("req-bad");
    const missing = await server.fetch("/v1/nothing", { headers: { "x-request-id": "req-404" } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBe("req-404");
  });

  it("a client that disconnects mid-stream frees its sequence", async () => {
    const before = (await getMetric(server, "vllm:request_success_total", { finished_reason: "abort" })) ?? 0;
    const ac = new AbortController();
    const s = await client.completions.create(
      {
        model: "stories260K",
        prompt: "Once upon a time",
        max_tokens: 1500,
        temperature: 0,
        ignore_eos: true,
        stream: true,
      } as OpenAI.CompletionCreateParamsStreaming,
      { signal: ac.signal },
    );
    let n = 0;
    let runningMidStream: number | null = null;
    try {
      for await (const _ of s) {
        if (++n === 3) {
          runningMidStream = await getMetric(server, "vllm:num_requests_running");
          ac.abort(); // openai-node ends the iteration (or throws an abort error) and closes the connection
        }
      }
    } catch (err) {
      expect(String(err)).toMatch(/abort/i);
    }
    expect(runningMidStream).toBe(1);
    expect(n).toBeLessThan(100);
    await waitFor(async () => (await getMetric(server, "vllm:num_requests_running")) === 0, "the aborted request to leave the engine");
    expect(await getMetric(server, "vllm:request_success_total", { finished_reason: "abort" })).toBe(before + 1);
    // The generation counter stopped far short of the 1500 tokens asked for.
    expect(await getMetric(server, "vllm:num_requests_waiting")).toBe(0);
  });

  it("feeds the vLLM metrics", async () => {
    const text = await (await server.fetch("/metrics")).text();
    expect(text).toMatch(/^vllm:generation_tokens_total\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:prompt_tokens_total\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:prefix_cache_hits_total\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:time_to_first_token_seconds_count\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:inter_token_latency_seconds_count\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:e2e_request_latency_seconds_count\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:request_queue_time_seconds_count\{model_name="stories260K"\} [1-9]/m);
    expect(text).toMatch(/^vllm:request_success_total\{model_name="stories260K",finished_reason="length"\} [1-9]/m);
  });
});

async function detokenize(server: HerdServer, tokens: number[]): Promise<{ prompt: string }> {
  return (await (await server.fetch("/detokenize", { method: "POST", body: JSON.stringify({ tokens }) })).json()) as { prompt: string };
}
