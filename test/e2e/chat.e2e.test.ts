/**
 * /v1/chat/completions end to end on the embedded random-weight Llama 4 model (what `herd serve`
 * serves with no model argument), through the official `openai` client.
 */
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type OpenAI from "openai";
import { startHerd, type HerdServer } from "./helpers/herd-server.js";

const GUIDE_MODEL = "meta-llama/Llama-4-Scout-17B-16E-Instruct";
const THP = "/sys/kernel/mm/transparent_hugepage/enabled";

describe("chat e2e (embedded Llama 4)", () => {
  let server: HerdServer;
  let client: OpenAI;

  beforeAll(async () => {
    // No model argument: the embedded model. The guide's model name is served as an alias.
    server = await startHerd(["--served-model-name", `herd-llama4-random,${GUIDE_MODEL}`]);
    client = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("says plainly at startup that the model has random weights", () => {
    const warning = server.logs.find((l) => l.randomWeights === true);
    expect(warning?.level).toBe("warn");
    expect(String(warning?.msg)).toMatch(/RANDOM WEIGHTS/);
    const loaded = server.logs.find((l) => String(l.msg).startsWith("model loaded"));
    expect(loaded).toMatchObject({ chatTemplate: "gguf", model: { architecture: "llama4" } });
    expect(server.logs.some((l) => l.msg === "resolved configuration")).toBe(true);
  });

  it("loads the weights into the engine's memory, on transparent huge pages where the kernel has them", () => {
    const line = String(server.logs.find((l) => String(l.msg).startsWith("weights:"))?.msg);
    expect(line).toMatch(/^weights: load mode none; \d+ MiB resident/);
    // The engine process is started with glibc.malloc.hugetlb=1: its large blocks (the 110 MiB of
    // weights among them) are advised onto huge pages. THP "never" (or no /sys) leaves them on 4 KiB pages.
    const thp = existsSync(THP) ? readFileSync(THP, "utf8") : "";
    if (/\[(always|madvise)\]/.test(thp)) expect(Number(/(\d+) MiB on transparent huge pages/.exec(line)?.[1])).toBeGreaterThanOrEqual(64);
  });

  it("lists the served names", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["herd-llama4-random", GUIDE_MODEL]);
  });

  it("answers the guide's request (Testing the Deployment), usage equal to /tokenize", async () => {
    const messages = [{ role: "user" as const, content: "What is Amazon EKS?" }];
    const r = await client.chat.completions.create({ model: GUIDE_MODEL, messages, max_tokens: 4 });
    expect(r.object).toBe("chat.completion");
    expect(r.model).toBe("herd-llama4-random");
    expect(r.choices[0]?.message.role).toBe("assistant");
    expect(typeof r.choices[0]?.message.content).toBe("string");
    expect(r.choices[0]?.finish_reason).toBe("length");
    const tok = (await (await server.fetch("/tokenize", { method: "POST", body: JSON.stringify({ messages }) })).json()) as {
      count: number;
      tokens: number[];
    };
    expect(r.usage).toMatchObject({ prompt_tokens: tok.count, completion_tokens: 4, total_tokens: tok.count + 4 });
  });

  it("renders the GGUF's Llama 4 template with every role", async () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Weather?" }] },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
      { role: "tool", tool_call_id: "c1", content: "18 C" },
    ];
    const res = await server.fetch("/tokenize", { method: "POST", body: JSON.stringify({ messages, return_token_strs: true }) });
    expect(res.status).toBe(200);
    const tok = (await res.json()) as { tokens: number[]; token_strs: string[] };
    expect(tok.tokens[0]).toBe(200000); // <|begin_of_text|>, once
    expect(tok.tokens.filter((t) => t === 200000)).toHaveLength(1);
    const text = tok.token_strs.join("");
    expect(text).toContain("<|header_start|>system<|header_end|>\n\nBe brief.<|eot|>");
    expect(text).toContain("<|header_start|>user<|header_end|>\n\nWeather?<|eot|>");
    expect(text).toMatch(/<\|header_start\|>(ipython|tool)<\|header_end\|>/);
    expect(text.endsWith("<|header_start|>assistant<|header_end|>\n\n")).toBe(true);
    const r = await client.chat.completions.create({
      model: "herd-llama4-random",
      messages: messages as OpenAI.ChatCompletionMessageParam[],
      max_tokens: 2,
    });
    expect(r.usage?.prompt_tokens).toBe(tok.tokens.length);
  });

  it("streams the same text as the non-streaming response (greedy)", async () => {
    const req = { model: "herd-llama4-random", messages: [{ role: "user" as const, content: "Hello" }], max_tokens: 5, temperature: 0 };
    const full = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      role ??= chunk.choices[0]?.delta.role;
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe("assistant");
    expect(text).toBe(full.choices[0]?.message.content);
    expect(finish).toBe(full.choices[0]?.finish_reason);
    // Same counts (cached_tokens may differ: the second request hits the prefix cache).
    expect({ ...usage, prompt_tokens_details: undefined }).toEqual({ ...full.usage, prompt_tokens_details: undefined });
  });

  it("returns logprobs in OpenAI's chat shape", async () => {
    const r = await client.chat.completions.create({
      model: "herd-llama4-random",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 3,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = r.choices[0]?.logprobs?.content;
    expect(content).toHaveLength(3);
    for (const entry of content ?? []) {
      expect(typeof entry.token).toBe("string");
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(Array.isArray(entry.bytes)).toBe(true);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.top_logprobs[0]?.logprob).toBeCloseTo(entry.logprob, 5); // greedy picks the top token
      for (const alt of entry.top_logprobs) expect(Object.keys(alt).sort()).toEqual(["bytes", "logprob", "token"]);
    }
    // One entry per generated token (special tokens included, though the text skips them).
    expect(content?.length).toBe(r.usage?.completion_tokens);
  });

  it("n=2 with a seed is reproducible", async () => {
    const req = {
      model: "herd-llama4-random",
      messages: [{ role: "user" as const, content: "Hi" }],
      max_tokens: 3,
      n: 2,
      seed: 7,
      temperature: 1,
    };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    expect(a.choices.map((c) => c.message.content)).toEqual(b.choices.map((c) => c.message.content));
    expect(a.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(a.usage?.completion_tokens).toBe(6);
  });

  it("refuses an unknown model with 404 and image input with 400", async () => {
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }], max_tokens: 1 }),
    ).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
      param: "model",
    });
    await expect(
      client.chat.completions.create({
        model: "herd-llama4-random",
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://httpbin.org/image/png" } }] }],
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({ status: 400, param: "messages[0].content[0]" });
  });
});
