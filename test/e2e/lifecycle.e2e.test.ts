/**
 * Server lifecycle against real `herd serve` processes: auth on every route, engine death and
 * restart, and SIGTERM draining.
 */
import { execFileSync } from "node:child_process";
import type OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { getMetric, startHerd, waitFor, waitReady } from "./helpers/herd-server.js";
import { fixturePath } from "../fixtures/paths.js";

const modelPath = fixturePath("stories260K.gguf");

/** PIDs of the direct children of `pid` (the engine process of a server). */
function childPids(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

describe.skipIf(!modelPath)("lifecycle e2e (stories260K)", () => {
  it("requires the API key on every route but /health and /ready (HERD_API_KEY); --stream-interval batches tokens", async () => {
    const server = await startHerd([modelPath as string, "--threads", "1", "--stream-interval", "4"], {
      env: { HERD_API_KEY: "sk-herd-test" },
    });
    try {
      const routes: Array<[string, string, object | null]> = [
        ["POST", "/v1/chat/completions", { messages: [{ role: "user", content: "Hi" }], max_tokens: 1 }],
        ["POST", "/v1/completions", { prompt: "Once", max_tokens: 1 }],
        ["GET", "/v1/models", null],
        ["POST", "/tokenize", { prompt: "Once" }],
        ["POST", "/detokenize", { tokens: [1, 403] }],
        ["GET", "/version", null],
        ["GET", "/metrics", null],
        ["GET", "/v1/unknown", null],
      ];
      for (const [method, path, body] of routes) {
        const init = { method, body: body === null ? null : JSON.stringify(body) };
        const none = await server.fetch(path, init);
        expect(none.status, `${method} ${path} without a key`).toBe(401);
        expect(((await none.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
        const wrong = await server.fetch(path, { ...init, headers: { authorization: "Bearer sk-herd-tesT" } });
        expect(wrong.status, `${method} ${path} with a wrong key`).toBe(401);
        const right = await server.fetch(path, { ...init, headers: { authorization: "Bearer sk-herd-test" } });
        expect(right.status, `${method} ${path} with the key`).toBe(path === "/v1/unknown" ? 404 : 200);
      }
      for (const path of ["/health", "/ready"]) expect((await server.fetch(path)).status).toBe(200);
      // The openai client sends the key as a bearer token.
      await expect(server.client({ apiKey: "nope" }).models.list()).rejects.toMatchObject({ status: 401 });
      const r = await server.client({ apiKey: "sk-herd-test" }).completions.create({ model: "stories260K", prompt: "Once", max_tokens: 2 });
      expect(r.choices).toHaveLength(1);
      expect(server.output()).not.toContain("sk-herd-test"); // the key is never logged
      // --stream-interval 4: same text, tokens arrive in fewer writes (first token alone).
      const authed = server.client({ apiKey: "sk-herd-test" });
      const full = await authed.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 17, temperature: 0 });
      const res = await server.fetch("/v1/completions", {
        method: "POST",
        headers: { authorization: "Bearer sk-herd-test" },
        body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 17, temperature: 0, stream: true }),
      });
      const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: {"));
      const texts = events.map((e) => (JSON.parse(e.slice(6)) as { choices: Array<{ text: string }> }).choices[0]?.text ?? "");
      expect(texts.join("")).toBe(full.choices[0]?.text);
    } finally {
      await server.stop();
    }
  });

  it("reports the engine dead, fails in-flight requests, and starts a new engine (--load-mode mmap)", async () => {
    const server = await startHerd([modelPath as string, "--threads", "1", "--load-mode", "mmap"]);
    try {
      expect(server.logs.some((l) => String(l.msg).startsWith("weights: load mode mmap;"))).toBe(true);
      const client = server.client();
      const [engine] = childPids(server.proc.pid as number);
      expect(engine).toBeGreaterThan(0);
      const stream = await client.completions.create({
        model: "stories260K",
        prompt: "Once upon a time",
        max_tokens: 1500,
        ignore_eos: true,
        stream: true,
      } as OpenAI.CompletionCreateParamsStreaming);
      let chunks = 0;
      const consumed = (async () => {
        for await (const _ of stream) if (++chunks === 2) process.kill(engine as number, "SIGKILL");
      })();
      await expect(consumed).rejects.toMatchObject({ error: { code: "engine_dead" } });
      // Not ready while the engine restarts, then ready again with a new engine process.
      await waitReady(server, 60_000);
      const [engine2] = childPids(server.proc.pid as number);
      expect(engine2).not.toBe(engine);
      const r = await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 4, temperature: 0 });
      expect(r.choices[0]?.text).toBe(", there was a");
      expect(await getMetric(server, "herd:engine_restarts_total")).toBe(1);
      expect(server.logs.some((l) => l.msg === "engine dead")).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it("answers 429 with retry-after when the queue is full", async () => {
    const server = await startHerd([modelPath as string, "--threads", "1", "--max-num-seqs", "1", "--max-waiting", "1"]);
    try {
      const client = server.client();
      const ac = new AbortController();
      const long = { model: "stories260K", prompt: "Once upon a time", max_tokens: 1500, ignore_eos: true, stream: true } as const;
      const running = await client.completions.create(long, { signal: ac.signal });
      const waiting = client.completions.create(long, { signal: ac.signal }).catch(() => null); // queued: no headers until it runs
      await waitFor(async () => (await getMetric(server, "vllm:num_requests_waiting")) === 1, "the second request to be queued");
      const res = await server.fetch("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "Once", max_tokens: 2 }) });
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after-ms")).toMatch(/^\d+$/);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(res.headers.get("x-should-retry")).toBe("true");
      expect(((await res.json()) as { error: { type: string; code: string } }).error).toMatchObject({
        type: "rate_limit_error",
        code: "queue_full",
      });
      ac.abort();
      for await (const _ of running) break;
      await waiting;
    } finally {
      await server.stop();
    }
  });

  it("drains on SIGTERM: readiness false, new requests refused, in-flight requests finish, then exit 0", async () => {
    const server = await startHerd([modelPath as string, "--threads", "1", "--shutdown-timeout", "20"]);
    const client = server.client();
    const stream = await client.completions.create({
      model: "stories260K",
      prompt: "Once upon a time",
      max_tokens: 600,
      ignore_eos: true,
      temperature: 0,
      stream: true,
    } as OpenAI.CompletionCreateParamsStreaming);
    let text = "";
    let finish: string | null = null;
    let signalled = false;
    let afterSignal: { ready: number | string; completion: number | string } | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (!signalled) {
        signalled = true;
        server.proc.kill("SIGTERM");
        // Once it logs "draining", readiness is false and the listener is closed (server.ts shutdown()).
        await waitFor(() => server.logs.some((l) => String(l.msg).startsWith("draining")), "the draining log line");
        // A new connection is refused (the listener is closed) or answered 503.
        const status = (p: Promise<Response>) => p.then((r) => r.status).catch(() => "refused");
        afterSignal = {
          ready: await status(server.fetch("/ready")),
          completion: await status(
            server.fetch("/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "x", max_tokens: 1 }) }),
          ),
        };
      }
    }
    expect(afterSignal?.ready === 503 || afterSignal?.ready === "refused").toBe(true);
    expect(afterSignal?.completion === 503 || afterSignal?.completion === "refused").toBe(true);
    expect(finish).toBe("length");
    expect(text.length).toBeGreaterThan(500);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.logs.some((l) => String(l.msg).startsWith("draining"))).toBe(true);
  });
});
