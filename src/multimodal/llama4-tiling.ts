/**
 * Llama 4's tiling plan, exactly as Hugging Face's `Llama4ImageProcessor(Fast)` computes it
 * (`../shared/reference/llama4.md` §4.1; `find_supported_resolutions`, `get_best_fit`,
 * `get_max_res_without_distortion`): which canvas of up to 16 tiles an image goes on, the size it is
 * resized to before padding, and whether a global tile follows.
 *
 * Float semantics matter at the edges and are reproduced: HF computes canvas scales on an int64
 * tensor divided by an int (float32), and the resize box is a mix of Python ints and 0-d tensors —
 * a box side is a tensor exactly when the canvas side is smaller than `max(side, tile)`, and then
 * the scale and the floor of `side × scale` are float32; otherwise float64.
 * @module
 */

/** Llama 4's tile side (vision_config.image_size) and tile cap (`max_patches`). */
export const LLAMA4_TILE_SIZE = 336;
export const LLAMA4_MAX_TILES = 16;

export interface Canvas {
  /** Tiles down (rows) and across (columns). */
  rows: number;
  cols: number;
}

export interface TilingPlan {
  canvas: Canvas;
  /** Canvas size in pixels (cols·tile × rows·tile). */
  canvasWidth: number;
  canvasHeight: number;
  /** The image is resized to this (aspect preserved), then padded black bottom/right to the canvas. */
  resizedWidth: number;
  resizedHeight: number;
  /** rows × cols. */
  numTiles: number;
  /** A global tile (the whole image squashed to one tile) follows the grid when numTiles > 1. */
  hasGlobalTile: boolean;
  tileSize: number;
}

const canvasCache = new Map<string, readonly Canvas[]>();

/**
 * Every grid with rows·cols ≤ maxTiles, in HF's order: for N = maxTiles … 1, the factor pairs of N
 * (rows ascending) are appended to a list per aspect ratio rows/cols, the lists in the order each
 * ratio was first seen. The order decides ties. 50 grids for 16 tiles.
 */
export function candidateCanvases(maxTiles: number = LLAMA4_MAX_TILES): readonly Canvas[] {
  const key = String(maxTiles);
  const cached = canvasCache.get(key);
  if (cached) return cached;
  const byRatio = new Map<number, Canvas[]>();
  for (let n = maxTiles; n >= 1; n--) {
    for (let rows = 1; rows <= n; rows++) {
      if (n % rows !== 0) continue;
      const cols = n / rows;
      const ratio = rows / cols;
      let list = byRatio.get(ratio);
      if (!list) byRatio.set(ratio, (list = []));
      list.push({ rows, cols });
    }
  }
  const out = Object.freeze([...byRatio.values()].flat().map((c) => Object.freeze(c)));
  canvasCache.set(key, out);
  return out;
}

const f32 = Math.fround;

/** HF `get_best_fit` (resize_to_max_canvas false): least upscaling, else least downscaling; then least area, first in list order. */
export function bestCanvas(
  width: number,
  height: number,
  tileSize: number = LLAMA4_TILE_SIZE,
  maxTiles: number = LLAMA4_MAX_TILES,
): Canvas {
  const candidates = candidateCanvases(maxTiles);
  // int64 tensor / int → float32 (exact float32 division: double rounding is innocuous here).
  const scales = candidates.map((c) => {
    const sw = f32((c.cols * tileSize) / width);
    const sh = f32((c.rows * tileSize) / height);
    return Math.min(sw, sh); // torch.where(sh > sw, sw, sh); no NaN here
  });
  const up = scales.filter((s) => s >= 1);
  const selected = up.length > 0 ? Math.min(...up) : Math.max(...scales.filter((s) => s < 1));
  let best: Canvas | null = null;
  let bestArea = Number.POSITIVE_INFINITY;
  candidates.forEach((c, i) => {
    if (scales[i] !== selected) return;
    const area = c.rows * c.cols;
    if (area < bestArea) {
      best = c;
      bestArea = area;
    }
  });
  if (!best) throw new Error(`no Llama 4 canvas for a ${width}×${height} image`);
  return best;
}

/**
 * HF's resize target for `resize_to_max_canvas` false: the box `min(max(side, tile), canvas side)`,
 * then `get_max_res_without_distortion` (limiting side set exactly, the other floored).
 */
export function resizeTarget(
  width: number,
  height: number,
  canvasWidth: number,
  canvasHeight: number,
  tileSize: number = LLAMA4_TILE_SIZE,
): { width: number; height: number } {
  // Python's min(int, tensor) returns the tensor only when it is strictly smaller.
  const boxH = Math.min(Math.max(height, tileSize), canvasHeight);
  const boxW = Math.min(Math.max(width, tileSize), canvasWidth);
  const tensorH = canvasHeight < Math.max(height, tileSize);
  const tensorW = canvasWidth < Math.max(width, tileSize);
  const scaleW = tensorW ? f32(boxW / width) : boxW / width;
  const scaleH = tensorH ? f32(boxH / height) : boxH / height;
  // A comparison with a float32 tensor happens in float32.
  const wLimits = tensorW || tensorH ? f32(scaleW) < f32(scaleH) : scaleW < scaleH;
  let newW: number;
  let newH: number;
  if (wLimits) {
    newW = boxW;
    newH = Math.min(Math.floor(tensorW ? f32(height * scaleW) : height * scaleW), boxH);
  } else {
    newH = boxH;
    newW = Math.min(Math.floor(tensorH ? f32(width * scaleH) : width * scaleH), boxW);
  }
  return { width: Math.max(newW, 1), height: Math.max(newH, 1) };
}

/** The whole plan for one image of `width` × `height` pixels. */
export function planTiling(
  width: number,
  height: number,
  tileSize: number = LLAMA4_TILE_SIZE,
  maxTiles: number = LLAMA4_MAX_TILES,
): TilingPlan {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`planTiling: bad image size ${width}×${height}`);
  }
  const canvas = bestCanvas(width, height, tileSize, maxTiles);
  const canvasWidth = canvas.cols * tileSize;
  const canvasHeight = canvas.rows * tileSize;
  const resized = resizeTarget(width, height, canvasWidth, canvasHeight, tileSize);
  const numTiles = canvas.rows * canvas.cols;
  return {
    canvas,
    canvasWidth,
    canvasHeight,
    resizedWidth: resized.width,
    resizedHeight: resized.height,
    numTiles,
    hasGlobalTile: numTiles > 1,
    tileSize,
  };
}

/** Tiles the vision encoder sees: the grid plus the global tile when there is more than one. */
export function encoderTiles(plan: Pick<TilingPlan, "numTiles">): number {
  return plan.numTiles > 1 ? plan.numTiles + 1 : 1;
}
