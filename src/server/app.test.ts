/**
 * The HTTP layer without an engine (the model is "still loading"): auth, probes, routing, body limits
 * and request validation all run before a request needs the engine. The handlers over a scripted
 * engine: chat-completions/handler.test.ts and completions/handler.test.ts; over a real model:
 * test/e2e against a real `herd serve`.
 */
import { describe, expect, it } from "vitest";
import { resolveServeConfig, type RawServeOptions } from "../config/serve-config.js";
import { createApp } from "./app.js";
import { ServerContext } from "./context.js";
import { EngineHost } from "./engine-host.js";
import { silentLogger } from "./logger.js";
import { ServerMetrics } from "./metrics.js";

function makeApp(flags: RawServeOptions = {}) {
  const config = resolveServeConfig({ model: "/models/tiny.gguf", ...flags }, { useEnv: false });
  const log = silentLogger();
  const host = new EngineHost({ create: () => Promise.reject(new Error("no engine in unit tests")), log });
  const ctx = new ServerContext(config, host, new ServerMetrics("tiny"), log);
  return createApp(ctx);
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } }).error;
}

describe("probes and ops routes", () => {
  const app = makeApp();
  it("/health is 200 while the engine loads, /ready is 503", async () => {
    expect((await app.request("/health")).status).toBe(200);
    const ready = await app.request("/ready");
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "not_ready", engine: "starting" });
  });
  it("/version and /v1/models answer", async () => {
    expect(await (await app.request("/version")).json()).toHaveProperty("version");
    const models = (await (await app.request("/v1/models")).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(["tiny"]);
  });
  it("/metrics exposes vLLM names with model_name", async () => {
    const text = await (await app.request("/metrics")).text();
    for (const name of [
      "vllm:num_requests_running",
      "vllm:num_requests_waiting",
      "vllm:kv_cache_usage_perc",
      "vllm:prefix_cache_queries_total",
      "vllm:prefix_cache_hits_total",
      "vllm:prompt_tokens_total",
      "vllm:generation_tokens_total",
      "vllm:request_success_total",
      "vllm:time_to_first_token_seconds_bucket",
      "vllm:inter_token_latency_seconds_bucket",
      "vllm:e2e_request_latency_seconds_bucket",
      "vllm:request_queue_time_seconds_bucket",
    ]) {
      expect(text).toMatch(new RegExp(`^${name}\\{[^}]*model_name="tiny"`, "m"));
    }
  });
  it("requests during model load get 503 with retry-after", async () => {
    const res = await app.request("/v1/completions", json({ prompt: "hi" }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("x-should-retry")).toBe("true");
  });
  it("unknown routes are 404 in OpenAI's error shape, with a request id", async () => {
    const res = await app.request("/v1/nope");
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe("route_not_found");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
  it("echoes a sane x-request-id", async () => {
    const res = await app.request("/version", { headers: { "x-request-id": "abc-123" } });
    expect(res.headers.get("x-request-id")).toBe("abc-123");
  });
});

describe("request validation before the engine", () => {
  const app = makeApp({ maxRequestBodyBytes: "2048" });
  const cases: Array<[string, RequestInit, number, string | null]> = [
    ["malformed JSON", json("{"), 400, null],
    ["empty body", json(""), 400, null],
    ["a JSON array", json([1, 2]), 400, null],
    ["invalid UTF-8", { method: "POST", body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, 400, null],
    ["oversize body", json({ prompt: "x".repeat(5000) }), 413, null],
    ["missing prompt", json({ max_tokens: 3 }), 400, "prompt"],
    ["prompt of wrong type", json({ prompt: { a: 1 } }), 400, "prompt"],
    ["max_tokens as string", json({ prompt: "x", max_tokens: "5" }), 400, "max_tokens"],
    ["max_tokens fractional", json({ prompt: "x", max_tokens: 1.5 }), 400, "max_tokens"],
    ["stream as string", json({ prompt: "x", stream: "yes" }), 400, "stream"],
    ["stop of numbers", json({ prompt: "x", stop: [1, 2] }), 400, "stop[0]"],
    ["logit_bias values as strings", json({ prompt: "x", logit_bias: { "1": "a" } }), 400, "logit_bias.1"],
  ];
  it.each(cases)("%s → %s", async (_name, init, status, param) => {
    const res = await app.request("/v1/completions", init);
    expect(res.status).toBe(status);
    const err = await errorOf(res);
    if (param !== null) expect(err.param).toBe(param);
    expect(err.message.length).toBeGreaterThan(10);
  });

  it("chat: empty messages, bad role, bad content part", async () => {
    const empty = await app.request("/v1/chat/completions", json({ messages: [] }));
    expect(empty.status).toBe(400);
    expect((await errorOf(empty)).param).toBe("messages");
    const role = await app.request("/v1/chat/completions", json({ messages: [{ role: "wizard", content: "x" }] }));
    expect((await errorOf(role)).param).toBe("messages[0].role");
    const part = await app.request("/v1/chat/completions", json({ messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }));
    expect((await errorOf(part)).param).toBe("messages[0].content[0].text");
  });

  it("never echoes prompt text in error messages", async () => {
    const res = await app.request("/v1/completions", json({ prompt: "SECRET-PROMPT", max_tokens: "x" }));
    expect(JSON.stringify(await res.json())).not.toContain("SECRET-PROMPT");
  });
});

describe("auth", () => {
  const app = makeApp({ apiKey: "sk-test" });
  const routes: Array<[string, string]> = [
    ["POST", "/v1/chat/completions"],
    ["POST", "/v1/completions"],
    ["GET", "/v1/models"],
    ["POST", "/tokenize"],
    ["POST", "/detokenize"],
    ["POST", "/v1/completions/render"],
    ["POST", "/v1/chat/completions/render"],
    ["GET", "/version"],
    ["GET", "/metrics"],
  ];
  it.each(routes)("%s %s needs the key", async (method, path) => {
    const res = await app.request(path, { method, body: method === "POST" ? "{}" : null });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect((await errorOf(res)).type).toBe("authentication_error");
    const wrong = await app.request(path, { method, headers: { authorization: "Bearer sk-wrong" }, body: method === "POST" ? "{}" : null });
    expect(wrong.status).toBe(401);
    const right = await app.request(path, { method, headers: { authorization: "Bearer sk-test" }, body: method === "POST" ? "{}" : null });
    expect(right.status).not.toBe(401);
  });
  it("probes stay open", async () => {
    expect((await app.request("/health")).status).toBe(200);
    expect((await app.request("/ready")).status).toBe(503);
  });
  it("unknown routes also need the key (no route enumeration)", async () => {
    expect((await app.request("/v1/nope")).status).toBe(401);
  });
});

describe("CORS", () => {
  it("is off by default", async () => {
    const res = await makeApp().request("/version", { headers: { origin: "https://example.com" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
  it("allows configured origins and answers preflights without a key", async () => {
    const app = makeApp({ allowedOrigins: "https://a.example", apiKey: "k" });
    const pre = await app.request("/v1/models", {
      method: "OPTIONS",
      headers: { origin: "https://a.example", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://a.example");
    const other = await app.request("/version", { headers: { origin: "https://b.example", authorization: "Bearer k" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
