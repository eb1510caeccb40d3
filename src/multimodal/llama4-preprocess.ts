/**
 * Decoded RGB → the tiles the Llama 4 vision encoder sees (`../shared/reference/llama4.md` §4.1):
 * resize to the plan's size (PyTorch's uint8 antialiased bilinear, bit-exact — `resample.ts`), pad
 * black bottom/right to the canvas, split row-major into tile×tile tiles, then append the global
 * tile (the whole image resized to tile×tile, aspect not kept) when there is more than one tile.
 *
 * Tiles stay 8-bit; normalisation (x/255 − 0.5)/0.5 is the encoder's job. Hugging Face does it in
 * bfloat16 (`Llama4ImageProcessor.rescale_and_normalize`).
 *
 * The content hash is SHA-256 over a version tag, the grid and every tile's bytes: it keys exactly
 * what the encoder receives, so two encodings of the same pixels share prefix KV, and any pixel
 * difference (or a change of this preprocessing, via the tag) gives a different key.
 * @module
 */
import { createHash } from "node:crypto";
import type { ImageInput } from "../engine/types.js";
import type { DecodedImage } from "./decode.js";
import { LLAMA4_MAX_TILES, LLAMA4_TILE_SIZE, planTiling, type TilingPlan } from "./llama4-tiling.js";
import { resizeRgbBilinear, type Yield } from "./resample.js";

export interface PreprocessedImage {
  /** What the engine receives. */
  input: ImageInput;
  plan: TilingPlan;
}

const HASH_TAG = "herd-llama4-tiles-v1";

/** Splits a padded canvas (given as the resized image, implicitly padded with 0) into row-major tiles. */
export function splitIntoTiles(
  resized: Uint8Array,
  width: number,
  height: number,
  plan: Pick<TilingPlan, "canvas" | "tileSize">,
): Uint8Array[] {
  const t = plan.tileSize;
  const tiles: Uint8Array[] = [];
  for (let r = 0; r < plan.canvas.rows; r++) {
    for (let c = 0; c < plan.canvas.cols; c++) {
      const tile = new Uint8Array(t * t * 3); // zero = black padding
      const x0 = c * t;
      const copyW = Math.max(0, Math.min(t, width - x0));
      for (let y = 0; y < t; y++) {
        const sy = r * t + y;
        if (sy >= height || copyW === 0) break;
        const from = (sy * width + x0) * 3;
        tile.set(resized.subarray(from, from + copyW * 3), y * t * 3);
      }
      tiles.push(tile);
    }
  }
  return tiles;
}

export function hashTiles(plan: Pick<TilingPlan, "canvas" | "tileSize">, tiles: readonly Uint8Array[]): string {
  const h = createHash("sha256");
  h.update(`${HASH_TAG}:${plan.canvas.rows}x${plan.canvas.cols}:${plan.tileSize}:${tiles.length}\n`);
  for (const t of tiles) h.update(t);
  return h.digest("hex");
}

/** Tiles (grid row-major, global tile last) and content hash for one decoded image. */
export async function preprocessLlama4(
  image: Pick<DecodedImage, "width" | "height" | "data">,
  opts: { tileSize?: number; maxTiles?: number; yieldEvery?: Yield } = {},
): Promise<PreprocessedImage> {
  const tileSize = opts.tileSize ?? LLAMA4_TILE_SIZE;
  const plan = planTiling(image.width, image.height, tileSize, opts.maxTiles ?? LLAMA4_MAX_TILES);
  const resized = await resizeRgbBilinear(image.data, image.width, image.height, plan.resizedWidth, plan.resizedHeight, opts.yieldEvery);
  const tiles = splitIntoTiles(resized, plan.resizedWidth, plan.resizedHeight, plan);
  if (plan.hasGlobalTile) tiles.push(await resizeRgbBilinear(image.data, image.width, image.height, tileSize, tileSize, opts.yieldEvery));
  return { input: { hash: hashTiles(plan, tiles), tiles, tileSize }, plan };
}
