/**
 * No request can crash or stall `herd serve` (issue: a user message of 20,000 `x` segfaulted the API
 * process through llama.cpp's pre-tokenizer regex; a 7 MB prompt held the event loop for 16 s).
 * Against a real server on the embedded Llama 4 model: every input that crashes llama.cpp gets a 200
 * or a 4xx and the server answers a good request right after; `/health` stays under 100 ms while an
 * 8 MB prompt is handled; an engine killed mid-stream under load is reported as such and recovers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHerd, waitFor, type HerdServer } from "./helpers/herd-server.js";

const MODEL = "herd-llama4-random";
let server: HerdServer;

beforeAll(async () => {
  server = await startHerd(["--max-model-len", "8192", "--max-num-seqs", "16"]);
});
afterAll(async () => {
  await server?.stop();
});

const chat = (content: string, extra: Record<string, unknown> = {}) =>
  server.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, max_tokens: 2, messages: [{ role: "user", content }], ...extra }),
  });

async function goodRequestWorks(): Promise<void> {
  const res = await chat("Say hello.");
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: Array<{ finish_reason: string }> };
  expect(body.choices[0]?.finish_reason).toBeTruthy();
  expect((await server.fetch("/health")).status).toBe(200);
}

describe("inputs that crash llama.cpp's tokenizer", () => {
  const runs: Array<[string, string]> = [
    ["letters", "x"],
    ["digits", "7"],
    ["spaces", " "],
    ["newlines", "\n"],
    ["space-newline", " \n"],
    ["punctuation", "!"],
    ["CJK", "漢"],
    ["emoji", "😀"],
    ["accented letters", "é"],
  ];
  it.each(runs)("%s: 20,000 and 1 MB runs get 200 or 4xx, and the server keeps serving", async (_name, c) => {
    for (const length of [20_000, 1_000_000]) {
      const res = await chat(c.repeat(Math.ceil(length / c.length)));
      expect([200, 400]).toContain(res.status);
      const body = (await res.json()) as { error?: { code?: string; message: string } };
      if (res.status === 400) expect(body.error?.code).toBe("context_length_exceeded");
      await goodRequestWorks();
    }
  });

  it("the same runs as a completions prompt and through /tokenize", async () => {
    const prompt = "x".repeat(30_000);
    const res = await server.fetch("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt, max_tokens: 2 }),
    });
    expect(res.status).toBe(200);
    const tok = await server.fetch("/tokenize", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: " \n".repeat(20_000) }),
    });
    expect(tok.status).toBe(200);
    expect(((await tok.json()) as { count: number }).count).toBeGreaterThan(0);
    await goodRequestWorks();
  });
});

describe("the event loop", () => {
  it("answers /health in under 100 ms while 8 MB prompts are handled", async () => {
    // Bodies are serialized before the probe starts: this process's own JSON.stringify of 8 MB would
    // otherwise count as the server's latency.
    const bodies = ["hello ".repeat(1_300_000).slice(0, 8 * 1024 * 1024 - 200), "y".repeat(1_000_000), " \n".repeat(400_000)].map(
      (content) => JSON.stringify({ model: MODEL, max_tokens: 2, messages: [{ role: "user", content }] }),
    );
    const send = (body: string) =>
      server.fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
    const worst: number[] = [];
    let done = false;
    const prober = (async () => {
      while (!done) {
        const t0 = performance.now();
        expect((await server.fetch("/health")).status).toBe(200);
        worst.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    // An 8 MB prompt is refused from its length before tokenizing; a 1 MB one of long runs is
    // tokenized a slice at a time.
    const results = await Promise.all(bodies.map(send));
    done = true;
    await prober;
    for (const r of results) expect(r.status).toBe(400);
    expect(((await results[0]!.json()) as { error: { message: string } }).error.message).toMatch(/at least \d+ prompt tokens/);
    worst.sort((a, b) => b - a);
    expect(worst.length).toBeGreaterThan(3);
    expect(worst[0]).toBeLessThan(100);
  });
});

describe("huge conversations", () => {
  it("refuses more messages than the context has tokens before validating them, renders long ones off the event loop", async () => {
    const body = (messages: unknown[]) => JSON.stringify({ model: MODEL, max_tokens: 2, messages });
    const post = (b: string) =>
      server.fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: b });
    const turn = (i: number) => ({ role: i % 2 ? "assistant" : "user", content: "hi" });
    // Serialized before the probe starts (see above).
    const bodies = [
      body(Array.from({ length: 200_000 }, (_, i) => turn(i))),
      body(Array.from({ length: 3_000 }, (_, i) => turn(i))),
      body(Array.from({ length: 301 }, (_, i) => turn(i))),
    ];
    const worst: number[] = [];
    let done = false;
    const prober = (async () => {
      while (!done) {
        const t0 = performance.now();
        await server.fetch("/health");
        worst.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const [refused, rendered, ok] = (await Promise.all(bodies.map(post))) as [Response, Response, Response];
    done = true;
    await prober;
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /at least 200000 prompt tokens \(200000 messages/,
    );
    // 3,000 messages render (on the worker thread) to more tokens than the context holds.
    expect(rendered.status).toBe(400);
    expect(((await rendered.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
    expect(ok.status).toBe(200);
    expect(Math.max(...worst)).toBeLessThan(100);
  });
});

describe("hostile structured requests", () => {
  // As JSON text: JSON.stringify itself overflows the stack on these.
  const nestObjects = (d: number) =>
    `${'{"type":"object","required":["a"],"properties":{"a":'.repeat(d)}{"type":"string"}${"}}".repeat(d)}`;
  const nestArrays = (d: number) => {
    let s: unknown = { type: "string" };
    for (let i = 0; i < d; i++) s = { type: "array", items: s };
    return s;
  };
  /** `schema` as JSON text. */
  const withSchema = (schema: string) =>
    `{"model":"${MODEL}","max_tokens":2,"messages":[{"role":"user","content":"hi"}],` +
    `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`;
  it.each([
    [
      "a schema nested 3,000 objects deep (overflowed the stack: 500)",
      withSchema(nestObjects(3000)),
      /nests arrays and objects more than 128 levels/,
    ],
    [
      "a schema of 50 nested arrays (its grammar doubled per level: 23 s, then 500)",
      withSchema(JSON.stringify(nestArrays(50))),
      /too large/,
    ],
    [
      "an enum of 100,000 values (deduplicated pairwise: minutes with the event loop held)",
      withSchema(JSON.stringify({ enum: Array.from({ length: 100_000 }, (_, i) => String(i)) })),
      /too large/,
    ],
    [
      "tool parameters nested 2,000 objects deep",
      `{"model":"${MODEL}","max_tokens":2,"messages":[{"role":"user","content":"hi"}],` +
        `"tool_choice":"required","tools":[{"type":"function","function":{"name":"f","parameters":${nestObjects(2000)}}}]}`,
      /128 levels/,
    ],
    ["a body of 200,000 nested arrays", `{"model":"${MODEL}","messages":${"[".repeat(200_000)}${"]".repeat(200_000)}}`, /128 levels/],
  ])("%s: a quick 400, /health unaffected", async (_name, body, message) => {
    const t0 = performance.now();
    const res = await server.fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    expect(performance.now() - t0).toBeLessThan(3000);
    await goodRequestWorks();
  });
});

describe("engine death under load", () => {
  it("fails every in-flight stream with engine_dead, answers 503 while restarting, then serves again", async () => {
    let started = 0;
    const streams = Array.from({ length: 12 }, async () => {
      const res = await chat("Tell me a long story.", { max_tokens: 400, stream: true, temperature: 1 });
      started++; // the headers come with the first output: this stream is running in the engine
      const text = await res.text().catch((e: unknown) => `ABORTED ${String(e)}`);
      return { status: res.status, text };
    });
    // Once every stream runs (--max-num-seqs 16), kill the engine process.
    await waitFor(() => started === 12, "all 12 streams to start");
    const engines = await server.fetch("/metrics").then((r) => r.text());
    expect(engines).toMatch(/vllm:num_requests_running/);
    const { execSync } = await import("node:child_process");
    const child = execSync(`pgrep -P ${server.proc.pid} -f engine-process`).toString().trim().split("\n")[0]!;
    process.kill(Number(child), "SIGKILL");
    const outcomes = await Promise.all(streams);
    for (const o of outcomes) {
      expect(o.status).toBe(200);
      // Each stream ends with a typed error event (or finished before the kill).
      expect(o.text.includes("engine_dead") || o.text.includes("[DONE]")).toBe(true);
    }
    expect(outcomes.filter((o) => o.text.includes("engine_dead")).length).toBeGreaterThan(0);
    const during = await chat("Hi");
    expect([200, 503]).toContain(during.status);
    if (during.status === 503) expect(((await during.json()) as { error: { code: string } }).error.code).toBe("engine_restarting");
    await waitFor(async () => (await server.fetch("/ready")).status === 200, "the restarted engine to be ready");
    await goodRequestWorks();
  });
});
