/**
 * Image parts through the HTTP layer to the engine boundary, on the fake engine client
 * (test/fixtures/fake-engine.ts) that records what it receives: the expanded prompt, the tiles, the
 * limits and the 400s.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RawServeOptions } from "../config/serve-config.js";
import type { EngineRequest } from "../engine/types.js";
import { LLAMA4_TOKEN_IDS as T } from "../model/llama4/tokenizer.js";
import { fakeTokenize as tokenize } from "../../test/fixtures/fake-engine.js";
import { createTestApp, errorOf, postJson as post } from "../../test/fixtures/test-app.js";

const makeApp = (flags: RawServeOptions = {}, vision = true) => createTestApp({ flags, vision });
const imagePart = (url: string) => ({ type: "image_url", image_url: { url } });

let png640x480 = "";
let png100 = "";
let server: Server;
let httpBase = "";

beforeAll(async () => {
  const mk = (w: number, h: number) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: 10, g: 200, b: 30 } } })
      .png()
      .toBuffer();
  png640x480 = `data:image/png;base64,${(await mk(640, 480)).toString("base64")}`;
  const small = await mk(100, 100);
  png100 = `data:image/png;base64,${small.toString("base64")}`;
  server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "image/png" });
    res.end(small);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe("chat completions with images", () => {
  it("splices each image's tokens where its part sits and hands the tiles to the engine", async () => {
    const { app, client } = await makeApp();
    const res = await app.request(
      "/v1/chat/completions",
      post({
        messages: [{ role: "user", content: [imagePart(png640x480), { type: "text", text: "Describe <|image|> this" }] }],
        max_tokens: 1,
      }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number } };
    const req = client.requests[0] as EngineRequest;
    expect(req.images).toHaveLength(1);
    const img = req.images?.[0];
    expect(img?.tiles).toHaveLength(5); // 2×2 + global
    expect(img?.tileSize).toBe(336);
    expect(img?.hash).toMatch(/^[0-9a-f]{64}$/);
    const ids = req.promptTokenIds;
    expect(ids.filter((t) => t === T.patch)).toHaveLength(144 * 5);
    // The expansion (727 tokens for 640×480) sits right after the user header; the user's literal
    // "<|image|>" text stays an ordinary (parsed) token after it and is not an image.
    const start = ids.indexOf(T.imageStart);
    const header = tokenize("<|begin_of_text|><|header_start|>user<|header_end|>\n\n", true);
    expect(ids.slice(0, start)).toEqual(header);
    expect(ids[start + 726]).toBe(T.imageEnd);
    expect(ids.slice(start + 727, start + 727 + 9)).toEqual(tokenize("Describe ", true));
    expect(body.usage.prompt_tokens).toBe(ids.length);
  });

  it("/tokenize counts the same prompt", async () => {
    const { app, client } = await makeApp();
    const messages = [
      { role: "user", content: [{ type: "text", text: "a" }, imagePart(png100), imagePart(png640x480), { type: "text", text: "b" }] },
    ];
    await app.request("/v1/chat/completions", post({ messages, max_tokens: 1 }));
    const tok = (await (await app.request("/tokenize", post({ messages }))).json()) as { count: number; tokens: number[] };
    expect(tok.tokens).toEqual(client.requests[0]?.promptTokenIds);
    // bos, user header (start, "user", end, "\n\n"), "a", 100×100, 640×480, "b", eot, assistant header
    expect(tok.count).toBe(1 + 8 + 1 + 147 + 727 + 1 + 1 + 13);
  });

  it("accepts five images and refuses the sixth naming its part", async () => {
    const { app, client } = await makeApp();
    const five = Array.from({ length: 5 }, () => imagePart(png100));
    expect((await app.request("/v1/chat/completions", post({ messages: [{ role: "user", content: five }], max_tokens: 1 }))).status).toBe(
      200,
    );
    expect(client.requests[0]?.images).toHaveLength(5);
    const res = await app.request(
      "/v1/chat/completions",
      post({
        messages: [
          { role: "user", content: five },
          { role: "assistant", content: "ok" },
          { role: "user", content: [{ type: "text", text: "and" }, imagePart(png100)] },
        ],
      }),
    );
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.param).toBe("messages[2].content[1]");
    expect(err.code).toBe("too_many_images");
    expect(err.message).toContain("at most 5");
  });

  it("honours --limit-mm-per-prompt", async () => {
    const { app } = await makeApp({ limitMmPerPrompt: "image=1" });
    const res = await app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [imagePart(png100), imagePart(png100)] }] }),
    );
    expect((await errorOf(res)).param).toBe("messages[0].content[1]");
    const off = await makeApp({ limitMmPerPrompt: '{"image": 0}' });
    const res0 = await off.app.request("/v1/chat/completions", post({ messages: [{ role: "user", content: [imagePart(png100)] }] }));
    expect((await errorOf(res0)).message).toContain("turned off");
  });

  it("refuses images when the engine has no vision projector", async () => {
    const { app } = await makeApp({}, false);
    const res = await app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [{ type: "text", text: "hi" }, imagePart(png100)] }] }),
    );
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.param).toBe("messages[0].content[1]");
    expect(err.message).toContain("without a vision projector");
  });

  it("fetches http URLs from explicitly allowed networks only, naming the part on refusal", async () => {
    const denied = await makeApp();
    const res = await denied.app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [imagePart(png100), imagePart(`${httpBase}/a.png`)] }] }),
    );
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.param).toBe("messages[0].content[1]");
    expect(err.code).toBe("image_url_not_allowed");
    const allowed = await makeApp({ allowedMediaNetworks: "127.0.0.1/32" });
    const ok = await allowed.app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [imagePart(`${httpBase}/a.png`)] }], max_tokens: 1 }),
    );
    expect(ok.status).toBe(200);
    expect(allowed.client.requests[0]?.images?.[0]?.tiles).toHaveLength(1);
  });

  it("refuses undecodable images with 400", async () => {
    const { app } = await makeApp();
    const res = await app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [imagePart("data:image/png;base64,aGVsbG8=")] }] }),
    );
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ param: "messages[0].content[0]", code: "invalid_image" });
  });

  it("shares the hash for identical images and decodes a repeated URL once", async () => {
    const { app, client } = await makeApp();
    await app.request(
      "/v1/chat/completions",
      post({ messages: [{ role: "user", content: [imagePart(png100), imagePart(png100)] }], max_tokens: 1 }),
    );
    const [a, b] = client.requests[0]?.images ?? [];
    expect(a?.hash).toBe(b?.hash);
  });
});
