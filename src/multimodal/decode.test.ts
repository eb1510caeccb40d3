/** Decoding: formats by magic bytes, first GIF frame, alpha on white, ICC ignored, bombs and corrupt files refused. */
import sharp, { type Sharp } from "sharp";
import { describe, expect, it } from "vitest";
import { compositeOnWhite, decodeImage, sniffImageFormat } from "./decode.js";
import { rejection } from "../../test/fixtures/rejection.js";
import { MediaError } from "./errors.js";

const LIMITS = { maxPixels: 25_000_000 };

function raw(w: number, h: number, channels: 3 | 4, f: (x: number, y: number, c: number) => number): Buffer {
  const b = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) b[(y * w + x) * channels + c] = f(x, y, c);
  return b;
}
const pattern = (x: number, y: number, c: number) => (x * 37 + y * 11 + c * 80) & 255;

/** CRC-32 (PNG chunks). */
function crc32(buf: Uint8Array): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A PNG whose header claims w×h (the pixel data is a few bytes: the check must come before decoding). */
function pngHeaderOnly(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00])),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const refusal = (p: Promise<unknown>) => rejection(p, MediaError);

describe("decodeImage", () => {
  it("decodes PNG and lossless WebP to the exact stored RGB", async () => {
    const src = raw(7, 5, 3, pattern);
    for (const enc of [(s: Sharp) => s.png(), (s: Sharp) => s.webp({ lossless: true })]) {
      const bytes = await enc(sharp(src, { raw: { width: 7, height: 5, channels: 3 } })).toBuffer();
      const d = await decodeImage(bytes, LIMITS);
      expect([d.width, d.height]).toEqual([7, 5]);
      expect(Buffer.from(d.data).equals(src)).toBe(true);
    }
  });

  it("decodes JPEG", async () => {
    const bytes = await sharp(raw(64, 48, 3, pattern), { raw: { width: 64, height: 48, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const d = await decodeImage(bytes, LIMITS);
    expect([d.format, d.width, d.height, d.data.length]).toEqual(["jpeg", 64, 48, 64 * 48 * 3]);
  });

  it("takes the first frame of an animated GIF", async () => {
    const frame = (r: number, g: number, b: number) =>
      sharp({ create: { width: 4, height: 3, channels: 3, background: { r, g, b } } })
        .png()
        .toBuffer();
    const gif = await sharp([await frame(255, 0, 0), await frame(0, 0, 255)], { join: { animated: true } })
      .gif()
      .toBuffer();
    const d = await decodeImage(gif, LIMITS);
    expect([d.format, d.width, d.height]).toEqual(["gif", 4, 3]);
    expect(Array.from(d.data.subarray(0, 3))).toEqual([255, 0, 0]);
  });

  it("composites alpha on white, rounding like PIL", async () => {
    const src = raw(16, 16, 4, (x, y, c) => (c === 3 ? x * 16 + y : (x * 53 + y * 7 + c * 91) & 255));
    const d = await decodeImage(
      await sharp(src, { raw: { width: 16, height: 16, channels: 4 } })
        .png()
        .toBuffer(),
      LIMITS,
    );
    for (let i = 0; i < 256; i++) {
      const a = src[i * 4 + 3] as number;
      for (let c = 0; c < 3; c++) expect(d.data[i * 3 + c]).toBe(Math.round(((src[i * 4 + c] as number) * a + 255 * (255 - a)) / 255));
    }
  });

  it("compositeOnWhite equals round((v·a + 255·(255−a))/255) for every value and alpha", () => {
    const rgba = new Uint8Array(256 * 256 * 4);
    for (let a = 0; a < 256; a++) for (let v = 0; v < 256; v++) rgba.set([v, v, v, a], (a * 256 + v) * 4);
    const out = compositeOnWhite(rgba, 256 * 256);
    let mismatches = 0;
    for (let a = 0; a < 256; a++)
      for (let v = 0; v < 256; v++) if (out[(a * 256 + v) * 3] !== Math.round((v * a + 255 * (255 - a)) / 255)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it("ignores embedded ICC profiles and converts greyscale to RGB", async () => {
    const src = raw(2, 1, 3, () => 0).fill(200);
    src.set([200, 100, 50, 10, 20, 30]);
    const p3 = await sharp(src, { raw: { width: 2, height: 1, channels: 3 } })
      .withIccProfile("p3")
      .png()
      .toBuffer();
    const stored = await sharp(p3, { ignoreIcc: true }).raw().toBuffer();
    expect(Array.from((await decodeImage(p3, LIMITS)).data)).toEqual(Array.from(stored));
    const grey = await sharp(
      raw(3, 1, 3, (x) => x * 100),
      { raw: { width: 3, height: 1, channels: 3 } },
    )
      .greyscale()
      .png()
      .toBuffer();
    const g = await decodeImage(grey, LIMITS);
    expect(Array.from(g.data)).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200]);
  });

  it("refuses a 30000×30000 PNG before decoding it (decompression bomb)", async () => {
    const err = await refusal(decodeImage(pngHeaderOnly(30000, 30000), LIMITS));
    expect(err.code).toBe("image_too_large");
    expect(err.message).toContain("30000×30000");
  });

  it("refuses a real image over the pixel limit", async () => {
    const png = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: "white" } })
      .png()
      .toBuffer();
    expect((await refusal(decodeImage(png, { maxPixels: 1_000_000 }))).code).toBe("image_too_large");
  });

  it("refuses truncated JPEGs, non-images and unsupported formats", async () => {
    const jpeg = await sharp(
      raw(128, 128, 3, (x, y, c) => (x * y + c * 17) & 255),
      { raw: { width: 128, height: 128, channels: 3 } },
    )
      .jpeg()
      .toBuffer();
    expect((await refusal(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2)), LIMITS))).code).toBe("invalid_image");
    expect((await refusal(decodeImage(Buffer.from("<html>not an image</html>"), LIMITS))).message).toContain(
      "not a PNG, JPEG, WebP or GIF",
    );
    const tiff = await sharp({ create: { width: 2, height: 2, channels: 3, background: "red" } })
      .tiff()
      .toBuffer();
    expect((await refusal(decodeImage(tiff, LIMITS))).code).toBe("invalid_image");
    expect((await refusal(decodeImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), LIMITS))).code).toBe("invalid_image");
  });

  it("sniffs formats by magic bytes", () => {
    expect(sniffImageFormat(Buffer.from("GIF89a......"))).toBe("gif");
    expect(sniffImageFormat(Buffer.from("RIFF\0\0\0\0WEBPVP8 "))).toBe("webp");
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe("jpeg");
    expect(sniffImageFormat(Buffer.from("RIFF\0\0\0\0WAVE"))).toBeNull();
    expect(sniffImageFormat(new Uint8Array())).toBeNull();
  });
});
