import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { LLAMA4_TOKEN_IDS as T } from "../../model/llama4/tokenizer.js";
import { createTestApp, postJson as post } from "../../../test/fixtures/test-app.js";
import { placeholderRuns, type RenderResponse } from "./render.js";

describe("vLLM's render endpoints (what llm-d's precise-prefix scorer tokenizes with)", () => {
  it("/v1/completions/render answers one {model, token_ids} per prompt, as /v1/completions tokenizes", async () => {
    const { app } = await createTestApp({});
    const tok = (await (await app.request("/tokenize", post({ prompt: "Once upon a time" }))).json()) as { tokens: number[] };
    const res = await app.request("/v1/completions/render", post({ prompt: ["Once upon a time", "x"] }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as RenderResponse[];
    expect(body).toHaveLength(2);
    expect(body[0]?.token_ids).toEqual(tok.tokens);
    expect(typeof body[0]?.model).toBe("string");
    const ids = (await (await app.request("/v1/completions/render", post({ prompt: [5, 6, 7] }))).json()) as RenderResponse[];
    expect(ids.map((r) => r.token_ids)).toEqual([[5, 6, 7]]);
  });

  it("/v1/chat/completions/render answers the chat prompt's token ids, and the images' hashes and spans", async () => {
    const { app, client } = await createTestApp({ vision: true });
    const messages = [{ role: "user", content: "Hello there" }];
    const text = (await (await app.request("/v1/chat/completions/render", post({ messages }))).json()) as RenderResponse;
    const tok = (await (await app.request("/tokenize", post({ messages }))).json()) as { tokens: number[] };
    expect(text.token_ids).toEqual(tok.tokens);
    expect(text.features).toBeNull();

    const png = await sharp({ create: { width: 100, height: 100, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toBuffer();
    const image = { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } };
    const withImage = [{ role: "user", content: [{ type: "text", text: "a" }, image] }];
    const res = await app.request("/v1/chat/completions/render", post({ messages: withImage }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as RenderResponse;
    await app.request("/v1/chat/completions", post({ messages: withImage, max_tokens: 1 }));
    const sent = client.requests.at(-1)!;
    expect(body.token_ids).toEqual(sent.promptTokenIds);
    expect(body.features?.mm_hashes.image).toEqual([sent.images?.[0]?.hash]);
    expect(body.features?.mm_placeholders.image).toEqual(placeholderRuns(sent.promptTokenIds, T.patch));
    expect(body.features?.mm_placeholders.image[0]?.length).toBe(144);
  });

  it("placeholderRuns finds each run", () => {
    expect(placeholderRuns([1, 9, 9, 2, 9, 3], 9)).toEqual([
      { offset: 1, length: 2 },
      { offset: 4, length: 1 },
    ]);
  });
});
