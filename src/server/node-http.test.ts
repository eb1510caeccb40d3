import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readJsonObject } from "./body.js";
import { errorResponse } from "./errors.js";
import { nodeBindings, nodeFetch } from "./node-http.js";
import { sseResponse } from "./sse.js";

/** A Hono app with middleware that works on the response after the route, served by node:http. */
describe("node:http fast path under Hono middleware", () => {
  let server: Server;
  let base: string;
  const closes: string[] = [];

  beforeAll(async () => {
    const app = new Hono();
    app.use(cors({ origin: "http://x.test" }));
    app.use(async (c, next) => {
      await next();
      if (c.req.path === "/replaced") c.res = new Response("replaced", { status: 500 });
    });
    const stream = (c: { env: unknown }) =>
      sseResponse(
        async function* () {
          yield [{ n: 1 }];
          yield [{ n: 2 }];
        },
        undefined,
        { onClose: (o) => closes.push(o) },
        nodeBindings(c.env),
      );
    app.onError((err) => errorResponse(err));
    app.get("/stream", stream);
    app.get("/replaced", stream);
    app.post("/echo", async (c) => Response.json(await readJsonObject({ req: c.req.raw, node: nodeBindings(c.env) }, 64)));
    server = serve({ fetch: nodeFetch(app.fetch), port: 0, hostname: "127.0.0.1" }) as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it("streams with the head the middleware finished (CORS headers added after the route)", async () => {
    const res = await fetch(`${base}/stream`, { headers: { origin: "http://x.test" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://x.test");
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(await res.text()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n');
  });

  it("sends the middleware's replacement and releases the stream when the placeholder is replaced", async () => {
    closes.length = 0;
    const res = await fetch(`${base}/replaced`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("replaced");
    expect(closes).toEqual(["cancelled"]);
  });

  it("reads bodies from Node's request, with the size limit", async () => {
    const ok = await fetch(`${base}/echo`, { method: "POST", body: JSON.stringify({ a: "b" }) });
    expect(await ok.json()).toEqual({ a: "b" });
    // Chunked (no content-length): the limit applies while reading.
    const big = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(JSON.stringify({ a: "x".repeat(100) })));
        c.close();
      },
    });
    const res = await fetch(`${base}/echo`, { method: "POST", body: big, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
  });
});
