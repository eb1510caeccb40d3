/**
 * Image input end to end: `herd serve` (the embedded Llama 4, with its vision tower when the engine
 * loads one) driven by the official `openai` client. A local image server listens on 127.0.0.2,
 * the one network this server is told to allow (--allowed-media-networks 127.0.0.2/32), so
 * 127.0.0.1, `localhost` and everything else private stay refused (SSRF).
 *
 * When the loaded engine has no vision projector (libmtmd could not be built), image requests must
 * get a clear 400 naming the part, and the image-dependent cases skip — except under CI=true, where
 * that is a failure.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHerd, type HerdServer } from "./helpers/herd-server.js";

const MODEL = "herd-llama4-random";
type Part = OpenAI.Chat.Completions.ChatCompletionContentPart;
const image = (url: string): Part => ({ type: "image_url", image_url: { url } });
const text = (t: string): Part => ({ type: "text", text: t });

async function png(w: number, h: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}
const dataUrl = (b: Buffer, type = "image/png") => `data:${type};base64,${b.toString("base64")}`;

/** A PNG header claiming 30000×30000 (the pixel data never gets decoded). */
function pngBomb(): Buffer {
  const crc = (buf: Buffer) => {
    let c = ~0;
    for (const b of buf) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00])),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("images e2e (embedded Llama 4)", () => {
  let herd: HerdServer;
  let client: OpenAI;
  let media: Server;
  let mediaUrl = "";
  let vision = false;
  let red: Buffer;
  let truncatedJpeg: Buffer;
  /** /slow.png answers once this settles (or after 20 s). */
  let holdSlow: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    red = await png(100, 100, [220, 20, 20]);
    const jpeg = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .jpeg()
      .toBuffer();
    truncatedJpeg = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    media = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path === "/red.png") return res.writeHead(200, { "content-type": "image/png" }).end(red);
      if (path === "/slow.png") {
        let fallback: NodeJS.Timeout | undefined;
        const answer = () => {
          clearTimeout(fallback);
          if (!res.headersSent) res.writeHead(200, { "content-type": "image/png" }).end(red);
        };
        fallback = setTimeout(answer, 20_000);
        return void holdSlow.then(answer);
      }
      if (path === "/to-private") return res.writeHead(302, { location: "http://10.0.0.1/x.png" }).end();
      if (path === "/to-metadata") return res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => media.listen(0, "127.0.0.2", resolve));
    mediaUrl = `http://127.0.0.2:${(media.address() as AddressInfo).port}`;
    herd = await startHerd(["--allowed-media-networks", "127.0.0.2/32", "--max-model-len", "4096"]);
    client = herd.client();
    const probe = await herd.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: [image(dataUrl(red))] }], max_tokens: 1 }),
    });
    const body = (await probe.json()) as { error?: { message: string; param: string } };
    if (probe.status === 400 && /vision projector/.test(body.error?.message ?? "")) {
      // The embedded model ships a vision tower; only a machine that cannot build libmtmd lacks it.
      if (process.env.CI === "true")
        throw new Error("the embedded model's vision tower did not load (could libmtmd be built? see the server log)");
      expect(body.error?.param).toBe("messages[0].content[0]");
    } else {
      expect(probe.status).toBe(200);
      vision = true;
    }
  });
  afterAll(async () => {
    await herd?.stop();
    media?.closeAllConnections();
    await new Promise((r) => media?.close(r));
  });

  async function badRequest(content: Part[], extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming> = {}) {
    try {
      await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 1, ...extra });
    } catch (err) {
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      return err as InstanceType<typeof OpenAI.BadRequestError>;
    }
    throw new Error("expected a 400");
  }

  it("answers one image (data URL) and counts its 147 tokens", async (ctx) => {
    if (!vision) return ctx.skip();
    const withImage = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [image(dataUrl(red)), text("What colour?")] }],
      max_tokens: 3,
    });
    const without = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [text("What colour?")] }],
      max_tokens: 3,
    });
    expect(withImage.choices[0]?.message.role).toBe("assistant");
    expect(withImage.usage?.prompt_tokens).toBe((without.usage?.prompt_tokens ?? 0) + 147);
  });

  it("answers five images, one of them over local http, and a 2×2 one (727 tokens)", async (ctx) => {
    if (!vision) return ctx.skip();
    const big = dataUrl(await png(640, 480, [20, 20, 220]));
    const parts = [
      image(dataUrl(red)),
      image(`${mediaUrl}/red.png`),
      image(dataUrl(red)),
      image(big),
      image(dataUrl(red)),
      text("Compare them."),
    ];
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: parts }], max_tokens: 2 });
    const base = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [text("Compare them.")] }],
      max_tokens: 2,
    });
    expect((r.usage?.prompt_tokens ?? 0) - (base.usage?.prompt_tokens ?? 0)).toBe(4 * 147 + 727);
  });

  it("refuses a sixth image with a 400 naming it", async () => {
    const six = Array.from({ length: 6 }, () => image(dataUrl(red)));
    const err = await badRequest(six);
    expect(err.param).toBe(vision ? "messages[0].content[5]" : "messages[0].content[0]");
    if (vision) expect(err.message).toContain("at most 5");
  });

  const ssrfUrl = (which: string): string => {
    const port = (media.address() as AddressInfo).port;
    if (which === "loopback") return `http://127.0.0.1:${port}/red.png`;
    if (which === "metadata") return "http://169.254.169.254/latest/meta-data/";
    if (which === "redirect-private") return `${mediaUrl}/to-private`;
    if (which === "redirect-metadata") return `${mediaUrl}/to-metadata`;
    return `http://localhost:${port}/red.png`;
  };
  it.for([
    ["127.0.0.1 (not allowed)", "loopback"],
    ["the metadata service", "metadata"],
    ["a redirect to a private address", "redirect-private"],
    ["a redirect to the metadata service", "redirect-metadata"],
    ["a DNS name resolving to loopback", "dns-loopback"],
  ] as const)("refuses %s (SSRF)", async ([, url], ctx) => {
    if (!vision) return ctx.skip();
    const err = await badRequest([text("look"), image(ssrfUrl(url))]);
    expect(err.param).toBe("messages[0].content[1]");
    expect(err.code).toBe("image_url_not_allowed");
  });

  it.for([
    ["a 30000×30000 PNG bomb", () => dataUrl(pngBomb()), "image_too_large"],
    ["a truncated JPEG", () => dataUrl(truncatedJpeg, "image/jpeg"), "invalid_image"],
    ["a non-image", () => dataUrl(Buffer.from("just text, not pixels"), "image/png"), "invalid_image"],
  ] as const)("refuses %s with 400", async ([, url, code], ctx) => {
    if (!vision) return ctx.skip();
    const err = await badRequest([image(url())]);
    expect(err.code).toBe(code);
  });

  it("keeps serving text while an image is still being fetched", async (ctx) => {
    if (!vision) return ctx.skip();
    const order: string[] = [];
    // The image host answers only once the text request has finished (or after 20 s: a server that
    // waited for the image before serving text would then answer the image first).
    let release!: () => void;
    holdSlow = new Promise((r) => (release = r));
    const slow = client.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: [image(`${mediaUrl}/slow.png`)] }], max_tokens: 1 })
      .then(() => order.push("image"));
    const fast = client.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 1 })
      .then(() => order.push("text"))
      .finally(() => release());
    await Promise.all([slow, fast]);
    expect(order).toEqual(["text", "image"]);
  });
});
