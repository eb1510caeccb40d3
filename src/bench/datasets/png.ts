/**
 * Synthetic images for the image workload: seeded mosaics of colored tiles, encoded as RGB PNG data
 * URLs. Distinct seeds give distinct pixels, so servers that cache by image content see no hits
 * (like vLLM's random-mm dataset).
 * @module
 */
import { deflateSync } from "node:zlib";
import type { ImageSpec } from "../types.js";
import { Rng } from "./rng.js";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An RGB PNG (8 bits per channel) of `pixels` (width·height·3 bytes, row-major). */
export function encodePng(width: number, height: number, pixels: Uint8Array): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolor, deflate, no filter, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 1 })), chunk("IEND", new Uint8Array(0))]);
}

/** The image's pixels: 16-pixel tiles of seeded colors with a little per-pixel noise. */
export function renderImage(spec: ImageSpec): Uint8Array {
  const rng = new Rng(spec.seed);
  const tile = 16;
  const cols = Math.ceil(spec.width / tile);
  const colors = Array.from(
    { length: cols * Math.ceil(spec.height / tile) },
    () => [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)] as const,
  );
  const px = new Uint8Array(spec.width * spec.height * 3);
  for (let y = 0; y < spec.height; y++) {
    for (let x = 0; x < spec.width; x++) {
      const c = colors[Math.floor(y / tile) * cols + Math.floor(x / tile)]!;
      const noise = rng.int(-8, 8);
      const i = (y * spec.width + x) * 3;
      px[i] = Math.min(255, Math.max(0, c[0] + noise));
      px[i + 1] = Math.min(255, Math.max(0, c[1] + noise));
      px[i + 2] = Math.min(255, Math.max(0, c[2] + noise));
    }
  }
  return px;
}

export function imageDataUrl(spec: ImageSpec): string {
  return `data:image/png;base64,${encodePng(spec.width, spec.height, renderImage(spec)).toString("base64")}`;
}
