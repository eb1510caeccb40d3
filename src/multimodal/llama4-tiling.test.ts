/** Llama 4 tiling plans and prompt lengths: every worked example of llama4.md §4.3, plus HF's tie-break order. */
import { describe, expect, it } from "vitest";
import { LLAMA4_TOKEN_IDS as T } from "../model/llama4/tokenizer.js";
import { expandImageTokens, imageTokenCount } from "./llama4-prompt.js";
import { bestCanvas, candidateCanvases, encoderTiles, planTiling, resizeTarget } from "./llama4-tiling.js";

// image W×H | canvas W×H | rows×cols | resized W×H | tiles to ViT | prompt tokens   (llama4.md §4.3)
const TABLE: Array<[string, string, string, string, number, number]> = [
  ["100x100", "336x336", "1x1", "336x336", 1, 147],
  ["336x336", "336x336", "1x1", "336x336", 1, 147],
  ["337x336", "672x336", "1x2", "337x336", 3, 437],
  ["500x375", "672x672", "2x2", "500x375", 5, 727],
  ["640x480", "672x672", "2x2", "640x480", 5, 727],
  ["800x600", "1008x672", "2x3", "800x600", 7, 1017],
  ["1024x768", "1344x1008", "3x4", "1024x768", 13, 1887],
  ["1024x1024", "1344x1344", "4x4", "1024x1024", 17, 2467],
  ["1280x720", "1344x1008", "3x4", "1280x720", 13, 1887],
  ["1920x1080", "1680x1008", "3x5", "1680x945", 16, 2322],
  ["1080x1920", "1008x1680", "5x3", "945x1680", 16, 2322],
  ["2048x2048", "1344x1344", "4x4", "1344x1344", 17, 2467],
  ["4000x3000", "1344x1008", "3x4", "1344x1008", 13, 1887],
  ["6000x500", "4032x336", "1x12", "4032x336", 13, 1887],
  ["336x5000", "336x5040", "15x1", "336x5000", 16, 2322],
];
const pair = (s: string) => s.split("x").map(Number) as [number, number];

describe("candidateCanvases", () => {
  it("lists the 50 grids of at most 16 tiles in HF's order (by ratio first seen, from 16 tiles down)", () => {
    const c = candidateCanvases(16);
    expect(c).toHaveLength(50);
    expect(new Set(c.map((g) => `${g.rows}x${g.cols}`)).size).toBe(50);
    // 16 tiles open the lists of ratios 1/16, 1/4 (2×8, later 1×4), 1 (4×4, later 3×3, 2×2, 1×1), 4 and 16;
    // 15 tiles then open 1/15, 3/5, ...
    const order = c.map((g) => `${g.rows}x${g.cols}`);
    expect(order.slice(0, 12)).toEqual(["1x16", "2x8", "1x4", "4x4", "3x3", "2x2", "1x1", "8x2", "4x1", "16x1", "1x15", "3x5"]);
  });
});

describe("planTiling reproduces llama4.md §4.3 row by row", () => {
  it.each(TABLE)("%s → canvas %s, grid %s, resized %s, %i ViT tiles, %i tokens", (img, canvas, grid, resized, vit, tokens) => {
    const [w, h] = pair(img);
    const plan = planTiling(w, h);
    expect(`${plan.canvasWidth}x${plan.canvasHeight}`).toBe(canvas);
    expect(`${plan.canvas.rows}x${plan.canvas.cols}`).toBe(grid);
    expect(`${plan.resizedWidth}x${plan.resizedHeight}`).toBe(resized);
    expect(encoderTiles(plan)).toBe(vit);
    expect(plan.hasGlobalTile).toBe(vit > 1);
    expect(imageTokenCount(plan.canvas)).toBe(tokens);
    expect(expandImageTokens(plan.canvas, T)).toHaveLength(tokens);
  });
});

describe("bestCanvas edge cases", () => {
  it("prefers the least upscaling, then the smallest area, then list order", () => {
    // 200×300 (H×W) against tile 224 with ≤4 tiles is HF's docstring example: canvas 224×448 (H×W).
    expect(bestCanvas(300, 200, 224, 4)).toEqual({ rows: 1, cols: 2 });
    // A square image that fits one tile: every k×k scale ≥ 1, the least is 1×1.
    expect(bestCanvas(10, 10)).toEqual({ rows: 1, cols: 1 });
    // An exact multiple: no padding, no resize.
    expect(planTiling(672, 1008)).toMatchObject({ canvas: { rows: 3, cols: 2 }, resizedWidth: 672, resizedHeight: 1008 });
  });
  it("downscales the least when nothing fits (very wide and very tall)", () => {
    expect(planTiling(20000, 100)).toMatchObject({ canvas: { rows: 1, cols: 16 }, resizedWidth: 5376 });
    expect(planTiling(100, 20000)).toMatchObject({ canvas: { rows: 16, cols: 1 }, resizedHeight: 5376 });
  });
  it("upscales only images that fit in one tile, to a longer side of 336", () => {
    expect(planTiling(100, 50)).toMatchObject({ canvas: { rows: 1, cols: 1 }, resizedWidth: 336, resizedHeight: 168 });
    expect(planTiling(50, 300)).toMatchObject({ resizedWidth: 56, resizedHeight: 336 });
    // 300×400 is taller than a tile: placed unscaled on a 2×1 canvas (only the short side would be < 336).
    expect(planTiling(300, 400)).toMatchObject({ canvas: { rows: 2, cols: 1 }, resizedWidth: 300, resizedHeight: 400 });
  });
  it("floors the non-limiting side in float32 when HF's box is a tensor", () => {
    // Both box sides are tensors (canvas 1008×1680 < 1080×1920): 1080·f32(1680/1920) = 945 exactly.
    expect(resizeTarget(1920, 1080, 1680, 1008)).toEqual({ width: 1680, height: 945 });
    // Python-int box (fits): float64 arithmetic, floor(100·(336/300)) = 112.
    expect(resizeTarget(300, 100, 336, 336)).toEqual({ width: 336, height: 112 });
  });
  it("rejects empty sizes", () => {
    expect(() => planTiling(0, 10)).toThrow(RangeError);
  });
});

describe("expandImageTokens", () => {
  it("lays out a 1×2 grid with separators, the global tile after <|image|>", () => {
    const ids = expandImageTokens({ rows: 1, cols: 2 }, T, 2);
    const P = T.patch;
    expect(ids).toEqual([T.imageStart, P, P, T.tileXSeparator, P, P, T.tileYSeparator, T.image, P, P, T.imageEnd]);
  });
  it("ends every row with <|tile_y_separator|>, the last one included", () => {
    const ids = expandImageTokens({ rows: 2, cols: 1 }, T, 1);
    expect(ids).toEqual([T.imageStart, T.patch, T.tileYSeparator, T.patch, T.tileYSeparator, T.image, T.patch, T.imageEnd]);
  });
  it("has 145·N + 147 tokens for N > 1 tiles and 147 for one", () => {
    for (const c of candidateCanvases()) {
      const n = c.rows * c.cols;
      const ids = expandImageTokens(c, T);
      expect(ids).toHaveLength(n === 1 ? 147 : 145 * n + 147);
      expect(ids.filter((t) => t === T.patch)).toHaveLength(144 * (n === 1 ? 1 : n + 1));
    }
  });
});
