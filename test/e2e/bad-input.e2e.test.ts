/**
 * Bad input against a real `herd serve`: every case gets its documented 4xx (OpenAI's error shape,
 * the parameter named), and a good request running at the same time still gets the right answer.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHerd, type HerdServer } from "./helpers/herd-server.js";
import { fixturePath } from "../fixtures/paths.js";

const modelPath = fixturePath("stories260K.gguf");
const goldenPath = fixturePath("stories260K.golden.json");
const MAX_MODEL_LEN = 256;
const MAX_BODY = 65_536;

type Body = Record<string, unknown> | unknown[] | string | Uint8Array | null;

interface Case {
  name: string;
  path?: string;
  method?: string;
  body: Body;
  status: 400 | 404 | 413;
  /** Expected `error.param` (exact), when the error is about one parameter. */
  param?: string;
  code?: string;
}

const COMPLETION = (extra: Record<string, unknown>) => ({ model: "stories260K", prompt: "Once upon a time", max_tokens: 4, ...extra });
const CHAT = (extra: Record<string, unknown>) => ({
  model: "stories260K",
  messages: [{ role: "user", content: "Hi" }],
  max_tokens: 2,
  ...extra,
});
const LONG_PROMPT = "Once upon a time there was a little girl. ".repeat(40);

const completionCases: Case[] = [
  {
    name: "missing prompt",
    body: { model: "stories260K", max_tokens: 3 },
    status: 400,
    param: "prompt",
    code: "missing_required_parameter",
  },
  { name: "prompt is a number", body: COMPLETION({ prompt: 42 }), status: 400, param: "prompt" },
  { name: "prompt is an object", body: COMPLETION({ prompt: { text: "x" } }), status: 400, param: "prompt" },
  { name: "prompt is an empty list", body: COMPLETION({ prompt: [] }), status: 400, param: "prompt" },
  { name: "prompt is a list with an empty token list", body: COMPLETION({ prompt: [[]] }), status: 400, param: "prompt" },
  {
    name: "prompt mixes strings and numbers",
    body: COMPLETION({ prompt: ["a", 1] }),
    status: 400,
    param: "prompt",
    code: "invalid_parameter",
  },
  { name: "prompt token id beyond the vocabulary", body: COMPLETION({ prompt: [1, 99_999] }), status: 400, param: "prompt" },
  { name: "prompt token id negative", body: COMPLETION({ prompt: [1, -1] }), status: 400, param: "prompt" },
  { name: "prompt token id fractional", body: COMPLETION({ prompt: [1, 1.5] }), status: 400, param: "prompt" },
  { name: "prompt longer than max-model-len", body: COMPLETION({ prompt: LONG_PROMPT }), status: 400, code: "context_length_exceeded" },
  {
    name: "prompt + max_tokens beyond max-model-len",
    body: COMPLETION({ max_tokens: MAX_MODEL_LEN }),
    status: 400,
    code: "context_length_exceeded",
  },
  { name: "too many prompts", body: COMPLETION({ prompt: Array.from({ length: 65 }, () => "a") }), status: 400, param: "prompt" },
  { name: "max_tokens is a string", body: COMPLETION({ max_tokens: "5" }), status: 400, param: "max_tokens" },
  { name: "max_tokens negative", body: COMPLETION({ max_tokens: -1 }), status: 400, param: "max_tokens" },
  { name: "max_tokens zero", body: COMPLETION({ max_tokens: 0 }), status: 400, param: "max_tokens" },
  { name: "max_tokens huge", body: COMPLETION({ max_tokens: 1e12 }), status: 400 },
  { name: "max_tokens fractional", body: COMPLETION({ max_tokens: 2.5 }), status: 400, param: "max_tokens" },
  { name: "temperature is a string", body: COMPLETION({ temperature: "hot" }), status: 400, param: "temperature" },
  { name: "temperature negative", body: COMPLETION({ temperature: -0.5 }), status: 400, param: "temperature" },
  { name: "temperature huge", body: COMPLETION({ temperature: 100 }), status: 400, param: "temperature" },
  { name: "top_p zero", body: COMPLETION({ top_p: 0 }), status: 400, param: "top_p" },
  { name: "top_p above 1", body: COMPLETION({ top_p: 1.5 }), status: 400, param: "top_p" },
  { name: "top_k below -1", body: COMPLETION({ top_k: -5 }), status: 400, param: "top_k" },
  { name: "top_k beyond the vocabulary", body: COMPLETION({ top_k: 1e9 }), status: 400, param: "top_k" },
  { name: "min_p above 1", body: COMPLETION({ min_p: 2 }), status: 400, param: "min_p" },
  { name: "presence_penalty above 2", body: COMPLETION({ presence_penalty: 5 }), status: 400, param: "presence_penalty" },
  { name: "frequency_penalty below -2", body: COMPLETION({ frequency_penalty: -3 }), status: 400, param: "frequency_penalty" },
  { name: "repetition_penalty zero", body: COMPLETION({ repetition_penalty: 0 }), status: 400, param: "repetition_penalty" },
  { name: "repetition_penalty negative", body: COMPLETION({ repetition_penalty: -1 }), status: 400, param: "repetition_penalty" },
  { name: "n zero", body: COMPLETION({ n: 0 }), status: 400, param: "n" },
  { name: "n huge", body: COMPLETION({ n: 1000 }), status: 400, param: "n" },
  { name: "n is a string", body: COMPLETION({ n: "3" }), status: 400, param: "n" },
  { name: "seed is a string", body: COMPLETION({ seed: "abc" }), status: 400, param: "seed" },
  { name: "seed fractional", body: COMPLETION({ seed: 1.5 }), status: 400, param: "seed" },
  { name: "seed beyond 2^53", body: COMPLETION({ seed: 2 ** 60 }), status: 400, param: "seed" },
  { name: "10k stop strings", body: COMPLETION({ stop: Array.from({ length: 10_000 }, () => "x") }), status: 400, param: "stop" },
  { name: "stop is a number", body: COMPLETION({ stop: 7 }), status: 400, param: "stop" },
  { name: "stop holds an empty string", body: COMPLETION({ stop: [""] }), status: 400, param: "stop" },
  { name: "stop string too long", body: COMPLETION({ stop: "x".repeat(5000) }), status: 400, param: "stop" },
  { name: "stop string with a lone surrogate", body: '{"prompt":"Once","max_tokens":2,"stop":["a\\ud800b"]}', status: 400, param: "stop" },
  { name: "logprobs above the limit", body: COMPLETION({ logprobs: 100 }), status: 400, param: "logprobs" },
  { name: "logprobs negative", body: COMPLETION({ logprobs: -1 }), status: 400, param: "logprobs" },
  { name: "logprobs boolean (completions wants an integer)", body: COMPLETION({ logprobs: true }), status: 400, param: "logprobs" },
  { name: "logit_bias key not a token id", body: COMPLETION({ logit_bias: { abc: 1 } }), status: 400, param: "logit_bias" },
  { name: "logit_bias value out of range", body: COMPLETION({ logit_bias: { "5": 500 } }), status: 400, param: "logit_bias" },
  { name: "logit_bias key beyond the vocabulary", body: COMPLETION({ logit_bias: { "99999": 1 } }), status: 400, param: "logit_bias" },
  { name: "logit_bias is an array", body: COMPLETION({ logit_bias: [1, 2] }), status: 400, param: "logit_bias" },
  { name: "stream is a string", body: COMPLETION({ stream: "yes" }), status: 400, param: "stream" },
  { name: "stream_options is a string", body: COMPLETION({ stream: true, stream_options: "usage" }), status: 400, param: "stream_options" },
  { name: "min_tokens above max_tokens", body: COMPLETION({ min_tokens: 10, max_tokens: 5 }), status: 400, param: "min_tokens" },
  { name: "stop_token_ids beyond the vocabulary", body: COMPLETION({ stop_token_ids: [99_999] }), status: 400, param: "stop_token_ids" },
  { name: "ignore_eos is a string", body: COMPLETION({ ignore_eos: "true" }), status: 400, param: "ignore_eos" },
  { name: "unknown model", body: COMPLETION({ model: "gpt-4o" }), status: 404, param: "model", code: "model_not_found" },
  { name: "model is a number", body: COMPLETION({ model: 3 }), status: 400, param: "model" },
  { name: "best_of other than n", body: COMPLETION({ best_of: 5 }), status: 400, param: "best_of" },
  { name: "suffix", body: COMPLETION({ suffix: "The end." }), status: 400, param: "suffix" },
  { name: "echo with logprobs", body: COMPLETION({ echo: true, logprobs: 1 }), status: 400, param: "echo" },
];

const chatCases: Case[] = [
  { name: "chat: messages missing", body: { model: "stories260K" }, status: 400, param: "messages", code: "missing_required_parameter" },
  { name: "chat: messages empty", body: CHAT({ messages: [] }), status: 400, param: "messages" },
  { name: "chat: messages not a list", body: CHAT({ messages: "Hi" }), status: 400, param: "messages" },
  { name: "chat: message without role", body: CHAT({ messages: [{ content: "Hi" }] }), status: 400, param: "messages[0].role" },
  { name: "chat: unknown role", body: CHAT({ messages: [{ role: "wizard", content: "Hi" }] }), status: 400, param: "messages[0].role" },
  {
    name: "chat: content is a number",
    body: CHAT({ messages: [{ role: "user", content: 5 }] }),
    status: 400,
    param: "messages[0].content",
  },
  {
    name: "chat: user content null",
    body: CHAT({ messages: [{ role: "user", content: null }] }),
    status: 400,
    param: "messages[0].content",
  },
  {
    name: "chat: unknown content part",
    body: CHAT({ messages: [{ role: "user", content: [{ type: "audio", data: "x" }] }] }),
    status: 400,
    param: "messages[0].content[0].type",
  },
  {
    name: "chat: text part without text",
    body: CHAT({ messages: [{ role: "user", content: [{ type: "text" }] }] }),
    status: 400,
    param: "messages[0].content[0].text",
  },
  {
    name: "chat: image input (not supported yet)",
    body: CHAT({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://httpbin.org/image/png" } }] }] }),
    status: 400,
    param: "messages[0].content[0]",
  },
  { name: "chat: top_logprobs without logprobs", body: CHAT({ top_logprobs: 2 }), status: 400, param: "top_logprobs" },
  { name: "chat: top_logprobs above the limit", body: CHAT({ logprobs: true, top_logprobs: 50 }), status: 400, param: "top_logprobs" },
  { name: "chat: logprobs is a number", body: CHAT({ logprobs: 3 }), status: 400, param: "logprobs" },
  {
    name: "chat: response_format json_schema without json_schema",
    body: CHAT({ response_format: { type: "json_schema" } }),
    status: 400,
    param: "response_format.json_schema",
  },
  {
    name: "chat: response_format of an unknown type",
    body: CHAT({ response_format: { type: "yaml" } }),
    status: 400,
    param: "response_format.type",
  },
  {
    name: "chat: json_schema with an unsupported keyword",
    body: CHAT({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^a+$" } } } }),
    status: 400,
    param: "response_format.json_schema.schema",
    code: "unsupported_schema",
  },
  { name: "chat: tool_choice required without tools", body: CHAT({ tool_choice: "required" }), status: 400, param: "tool_choice" },
  {
    name: "chat: tool_choice names an unknown function",
    body: CHAT({ tool_choice: { type: "function", function: { name: "g" } }, tools: [{ type: "function", function: { name: "f" } }] }),
    status: 400,
    param: "tool_choice",
  },
  {
    name: "chat: tool name with a space",
    body: CHAT({ tools: [{ type: "function", function: { name: "get weather" } }] }),
    status: 400,
    param: "tools[0].function.name",
  },
  {
    name: "chat: required tool whose parameters use an unsupported keyword",
    body: CHAT({
      tool_choice: "required",
      tools: [
        {
          type: "function",
          function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", format: "email" } } } },
        },
      ],
    }),
    status: 400,
    param: "tools[0].function.parameters",
    code: "unsupported_schema",
  },
  {
    name: "chat: tool call arguments that are not JSON",
    body: CHAT({
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{x" } }] },
      ],
    }),
    status: 400,
    param: "messages[1].tool_calls[0].function.arguments",
  },
  { name: "chat: max_completion_tokens negative", body: CHAT({ max_completion_tokens: -5 }), status: 400, param: "max_completion_tokens" },
  {
    name: "chat: max_tokens beyond max-model-len",
    body: CHAT({ max_tokens: MAX_MODEL_LEN }),
    status: 400,
    code: "context_length_exceeded",
  },
  {
    name: "chat: continue_final_message after a user turn",
    body: CHAT({ continue_final_message: true, add_generation_prompt: false }),
    status: 400,
    param: "continue_final_message",
  },
  { name: "chat: unknown model", body: CHAT({ model: "llama-9000" }), status: 404, param: "model" },
  {
    name: "chat: prompt longer than max-model-len",
    body: CHAT({ messages: [{ role: "user", content: LONG_PROMPT }] }),
    status: 400,
    code: "context_length_exceeded",
  },
  { name: "chat: oversize body", body: CHAT({ messages: [{ role: "user", content: "x".repeat(MAX_BODY) }] }), status: 413 },
];

const bodyCases: Case[] = [
  { name: "malformed JSON", body: '{"prompt": "Once', status: 400, code: "invalid_json" },
  { name: "empty body", body: "", status: 400, code: "invalid_json" },
  { name: "body is a JSON array", body: [1, 2, 3], status: 400, code: "invalid_json" },
  { name: "body is a JSON string", body: '"hello"', status: 400, code: "invalid_json" },
  { name: "body is JSON null", body: "null", status: 400, code: "invalid_json" },
  {
    name: "invalid UTF-8",
    body: new Uint8Array([...Buffer.from('{"prompt":"'), 0xc3, 0x28, 0xff, ...Buffer.from('"}')]),
    status: 400,
    code: "invalid_encoding",
  },
  { name: "oversize body", body: COMPLETION({ prompt: "x".repeat(MAX_BODY + 10) }), status: 413, code: "request_too_large" },
  { name: "deeply nested JSON", body: `{"prompt":${"[".repeat(5000)}${"]".repeat(5000)}}`, status: 400 },
];

const otherCases: Case[] = [
  { name: "tokenize: neither prompt nor messages", path: "/tokenize", body: {}, status: 400 },
  {
    name: "tokenize: both prompt and messages",
    path: "/tokenize",
    body: { prompt: "a", messages: [{ role: "user", content: "b" }] },
    status: 400,
  },
  { name: "tokenize: prompt is a number", path: "/tokenize", body: { prompt: 5 }, status: 400, param: "prompt" },
  { name: "detokenize: tokens are strings", path: "/detokenize", body: { tokens: ["a"] }, status: 400, param: "tokens[0]" },
  { name: "detokenize: token beyond the vocabulary", path: "/detokenize", body: { tokens: [1, 99_999] }, status: 400, param: "tokens[1]" },
  { name: "detokenize: unknown model", path: "/detokenize", body: { model: "x", tokens: [1] }, status: 404, param: "model" },
  { name: "unknown route", path: "/v1/embeddings", body: { input: "x" }, status: 404, code: "route_not_found" },
  { name: "wrong method on completions", path: "/v1/completions", method: "GET", body: null, status: 404 },
];

const ALL = [...completionCases, ...chatCases, ...bodyCases, ...otherCases];

function encode(body: Body): string | Uint8Array | null {
  if (body === null) return null;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  return JSON.stringify(body);
}

describe.skipIf(!modelPath || !goldenPath)("bad input e2e (stories260K)", () => {
  let server: HerdServer;
  const golden = goldenPath
    ? (JSON.parse(readFileSync(goldenPath, "utf8")) as {
        cases: Array<{ prompt: string; completion_text: string; completion_token_ids: number[] }>;
      })
    : null;
  let goodText8 = "";

  beforeAll(async () => {
    server = await startHerd([
      modelPath as string,
      "--max-model-len",
      String(MAX_MODEL_LEN),
      "--max-request-body-bytes",
      String(MAX_BODY),
      "--threads",
      "1",
    ]);
    const g = golden?.cases[0];
    if (g)
      goodText8 = (
        (await (
          await server.fetch("/detokenize", { method: "POST", body: JSON.stringify({ tokens: g.completion_token_ids.slice(0, 8) }) })
        ).json()) as { prompt: string }
      ).prompt;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`has at least 60 cases (${ALL.length})`, () => {
    expect(ALL.length).toBeGreaterThanOrEqual(60);
    expect(new Set(ALL.map((c) => c.name)).size).toBe(ALL.length);
  });

  const good = async () => {
    const res = await server.fetch("/v1/completions", {
      method: "POST",
      body: JSON.stringify({ prompt: golden?.cases[0]?.prompt, max_tokens: 8, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { choices: Array<{ text: string }> }).choices[0]?.text;
  };

  it.each(ALL.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const [res, goodText] = await Promise.all([
      server.fetch(c.path ?? (c.name.startsWith("chat:") ? "/v1/chat/completions" : "/v1/completions"), {
        method: c.method ?? "POST",
        headers: { "content-type": "application/json" },
        body: encode(c.body),
      }),
      good(),
    ]);
    expect(goodText).toBe(goodText8);
    expect(res.status).toBe(c.status);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("x-should-retry")).toBe("false");
    const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(body.error.message.length).toBeGreaterThan(10);
    expect(body.error.type).toBe(c.status === 404 ? "not_found_error" : "invalid_request_error");
    if (c.param !== undefined) expect(body.error.param).toBe(c.param);
    if (c.code !== undefined) expect(body.error.code).toBe(c.code);
    expect(body.error.message).not.toContain("Once upon a time there was"); // never echoes the prompt
  });

  it("a long good stream survives the whole barrage", async () => {
    const g = golden?.cases[0];
    if (!g) return;
    const client = server.client();
    const stream = await client.completions.create({
      model: "stories260K",
      prompt: g.prompt,
      max_tokens: 64,
      temperature: 0,
      stream: true,
    });
    const barrage = Promise.all(
      ALL.map((c) =>
        server
          .fetch(c.path ?? (c.name.startsWith("chat:") ? "/v1/chat/completions" : "/v1/completions"), {
            method: c.method ?? "POST",
            body: encode(c.body),
          })
          .then((r) => r.status),
      ),
    );
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(await barrage).toEqual(ALL.map((c) => c.status));
    expect(text).toBe(g.completion_text);
  });

  it("ignores unknown fields, as OpenAI does", async () => {
    const res = await server.fetch("/v1/completions", {
      method: "POST",
      body: JSON.stringify({ ...COMPLETION({}), frobnicate: true, metadata: { a: 1 } }),
    });
    expect(res.status).toBe(200);
    const chat = await server.fetch("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ ...CHAT({}), store: true, messages: [{ role: "user", content: "Hi", extra: 1 }] }),
    });
    expect(chat.status).toBe(200);
  });
});
