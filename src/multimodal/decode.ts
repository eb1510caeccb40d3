/**
 * Image bytes → packed 8-bit RGB, the way the reference pipeline sees an image (vLLM opens it with
 * PIL, Hugging Face's `convert_to_rgb` makes it RGB):
 *
 * - formats: PNG, JPEG, WebP and GIF, recognised by their magic bytes (never by a declared type);
 *   the first frame of an animation;
 * - decompression bombs: the pixel count from the header is checked before anything is decoded
 *   (and sharp's `limitInputPixels` enforces it again inside the decoder);
 * - pixels as stored: embedded ICC profiles are ignored and EXIF orientation is not applied, as
 *   PIL does when it opens a file;
 * - alpha composited on white with PIL's `Image.alpha_composite` integer arithmetic (HF
 *   `convert_to_rgb`; Meta's preprocessing also composites on white);
 * - truncated or corrupt files are refused (PIL raises on them too).
 *
 * Decoding runs in libvips worker threads (sharp is asynchronous), not on the event loop.
 * @module
 */
import sharp, { type OutputInfo, type SharpOptions } from "sharp";
import { MediaError } from "./errors.js";

export type ImageFormat = "png" | "jpeg" | "webp" | "gif";

export interface DecodedImage {
  width: number;
  height: number;
  /** Packed RGB, row-major, width × height × 3. */
  data: Uint8Array;
  format: ImageFormat;
}

export interface DecodeLimits {
  /** Largest width × height accepted. */
  readonly maxPixels: number;
}

let configured = false;
function configureSharp(): void {
  if (configured) return;
  configured = true;
  // No libvips operation cache: it would keep decoded user images in memory between requests.
  sharp.cache(false);
}

/** The format from the first bytes, or null. */
export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  const at = (i: number) => b[i] ?? -1;
  if (
    at(0) === 0x89 &&
    at(1) === 0x50 &&
    at(2) === 0x4e &&
    at(3) === 0x47 &&
    at(4) === 0x0d &&
    at(5) === 0x0a &&
    at(6) === 0x1a &&
    at(7) === 0x0a
  )
    return "png";
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return "jpeg";
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "webp";
  if (b.length >= 6 && (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a")) return "gif";
  return null;
}

/**
 * PIL `alpha_composite(white, rgba)` (libImaging/AlphaComposite.c, 7 extra bits of precision),
 * specialised to an opaque white background.
 */
export function compositeOnWhite(rgba: Uint8Array, numPixels: number): Uint8Array {
  const out = new Uint8Array(numPixels * 3);
  for (let i = 0, o = 0, p = 0; i < numPixels; i++, o += 3, p += 4) {
    const a = rgba[p + 3] as number;
    const coef1 = a * 128; // src.a·255·255·2^7 / (255·255)
    const coef2 = 255 * 128 - coef1;
    for (let c = 0; c < 3; c++) {
      const tmp = (rgba[p + c] as number) * coef1 + 255 * coef2 + (0x80 << 7);
      out[o + c] = (((tmp >> 8) + tmp) >> 8) >> 7;
    }
  }
  return out;
}

/** Decodes `bytes` to RGB. Throws MediaError (not an image, unsupported format, too many pixels, corrupt). */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedImage> {
  configureSharp();
  const format = sniffImageFormat(bytes);
  if (!format) throw new MediaError("The data is not a PNG, JPEG, WebP or GIF image.", "invalid_image");
  const opts: SharpOptions = {
    limitInputPixels: limits.maxPixels,
    ignoreIcc: true,
    autoOrient: false,
    failOn: "warning",
    pages: 1,
    page: 0,
  };
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { ...opts, limitInputPixels: false }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (err) {
    throw new MediaError(`The ${format.toUpperCase()} image cannot be read: ${firstLine(err)}.`, "invalid_image", { cause: err });
  }
  if (!(width > 0 && height > 0)) throw new MediaError(`The ${format.toUpperCase()} image has no size.`, "invalid_image");
  if (width * height > limits.maxPixels) {
    throw new MediaError(
      `The image is ${width}×${height} = ${width * height} pixels; this server accepts at most ${limits.maxPixels} pixels per image.`,
      "image_too_large",
    );
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, opts).toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new MediaError(`The ${format.toUpperCase()} image cannot be decoded: ${firstLine(err)}.`, "invalid_image", { cause: err });
  }
  const { info, data } = raw;
  const n = info.width * info.height;
  let rgb: Uint8Array;
  if (info.channels === 3) rgb = new Uint8Array(data.buffer, data.byteOffset, n * 3);
  else if (info.channels === 4) rgb = compositeOnWhite(data, n);
  else throw new MediaError(`The image decoded to ${info.channels} channels; expected RGB or RGBA.`, "invalid_image");
  return { width: info.width, height: info.height, data: rgb, format };
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split("\n")[0] ?? msg).replace(/[.\s]+$/, "");
}
