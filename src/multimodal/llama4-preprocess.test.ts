/** Tiles for the encoder: grid order, black padding, the global tile, the content hash. */
import { describe, expect, it } from "vitest";
import { hashTiles, preprocessLlama4, splitIntoTiles } from "./llama4-preprocess.js";
import { resizeRgbBilinear } from "./resample.js";

function picture(w: number, h: number): Uint8Array {
  const a = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) a.set([(x * 7) & 255, (y * 5) & 255, (x + y) & 255], (y * w + x) * 3);
  return a;
}
const px = (buf: Uint8Array, w: number, x: number, y: number) => Array.from(buf.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));

describe("preprocessLlama4", () => {
  it("640×480 → 2×2 tiles of the unscaled image padded black, then the global tile", async () => {
    const img = { width: 640, height: 480, data: picture(640, 480) };
    const { input, plan } = await preprocessLlama4(img);
    expect(plan.canvas).toEqual({ rows: 2, cols: 2 });
    expect(input.tileSize).toBe(336);
    expect(input.tiles).toHaveLength(5);
    for (const t of input.tiles) expect(t.length).toBe(336 * 336 * 3);
    const [tl, tr, bl, br, global] = input.tiles as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    // Row-major: top-left starts at (0,0), top-right at (336,0), bottom-left at (0,336).
    expect(px(tl, 336, 0, 0)).toEqual(px(img.data, 640, 0, 0));
    expect(px(tr, 336, 5, 7)).toEqual(px(img.data, 640, 341, 7));
    expect(px(bl, 336, 9, 100)).toEqual(px(img.data, 640, 9, 436));
    expect(px(br, 336, 303, 143)).toEqual(px(img.data, 640, 639, 479));
    // Padding: right of x=640 in the right column, below y=480 in the bottom row.
    expect(px(tr, 336, 304, 0)).toEqual([0, 0, 0]);
    expect(px(bl, 336, 0, 144)).toEqual([0, 0, 0]);
    expect(br.subarray(144 * 336 * 3).every((v) => v === 0)).toBe(true);
    const g = await resizeRgbBilinear(img.data, 640, 480, 336, 336);
    expect(Buffer.from(global).equals(Buffer.from(g))).toBe(true);
  });

  it("a small image is one upscaled tile, no global tile", async () => {
    const { input, plan } = await preprocessLlama4({ width: 100, height: 50, data: picture(100, 50) });
    expect(plan).toMatchObject({ numTiles: 1, hasGlobalTile: false, resizedWidth: 336, resizedHeight: 168 });
    expect(input.tiles).toHaveLength(1);
    const resized = await resizeRgbBilinear(picture(100, 50), 100, 50, 336, 168);
    const tile = input.tiles[0] as Uint8Array;
    expect(Buffer.from(tile.subarray(0, 336 * 168 * 3)).equals(Buffer.from(resized))).toBe(true);
    expect(tile.subarray(336 * 168 * 3).every((v) => v === 0)).toBe(true);
  });

  it("hashes what the encoder sees: same pixels, same hash; one pixel changed, another hash", async () => {
    const a = await preprocessLlama4({ width: 400, height: 300, data: picture(400, 300) });
    const b = await preprocessLlama4({ width: 400, height: 300, data: picture(400, 300) });
    expect(a.input.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.input.hash).toBe(a.input.hash);
    const changed = picture(400, 300);
    const last = (299 * 400 + 399) * 3;
    changed[last] = (changed[last] as number) ^ 1;
    expect((await preprocessLlama4({ width: 400, height: 300, data: changed })).input.hash).not.toBe(a.input.hash);
    // Same bytes, another grid: another hash.
    expect(hashTiles({ canvas: { rows: 2, cols: 1 }, tileSize: 1 }, [new Uint8Array(3), new Uint8Array(3)])).not.toBe(
      hashTiles({ canvas: { rows: 1, cols: 2 }, tileSize: 1 }, [new Uint8Array(3), new Uint8Array(3)]),
    );
  });

  it("splits row-major with partial tiles at the right and bottom edges", () => {
    // 3×2 image on a 2×2 grid of 2×2 tiles.
    const img = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => i + 1);
    const tiles = splitIntoTiles(img, 3, 2, { canvas: { rows: 2, cols: 2 }, tileSize: 2 });
    expect(tiles.map((t) => Array.from(t))).toEqual([
      [1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15],
      [7, 8, 9, 0, 0, 0, 16, 17, 18, 0, 0, 0],
      Array(12).fill(0),
      Array(12).fill(0),
    ]);
  });
});
