/**
 * Llama 4's image tokens in the prompt (`../shared/reference/llama4.md` §4.2; HF
 * `Llama4Processor._prompt_split_image`, Meta `chat_format._encode_image`). One image becomes
 *
 *   1 tile:   <|image_start|> <|image|> P <|image_end|>                       (147 tokens)
 *   r×c grid: <|image_start|> ( P (<|tile_x_separator|> P)^(c−1) <|tile_y_separator|> )^r
 *             <|image|> P <|image_end|>                                        (145·r·c + 147)
 *
 * where P is `patchesPerTile` × `<|patch|>` (144 for Llama 4: 24×24 patches, pixel shuffle 0.5).
 * The engine puts one embedding on each `<|patch|>`, tile by tile, global tile last.
 * @module
 */
import type { Canvas } from "./llama4-tiling.js";

/** Token ids of the image markers. */
export interface Llama4ImageTokens {
  imageStart: number;
  imageEnd: number;
  tileXSeparator: number;
  tileYSeparator: number;
  image: number;
  patch: number;
}

/** The markers' text in the Llama 4 vocabulary. */
const LLAMA4_IMAGE_TOKEN_TEXT: Readonly<Record<keyof Llama4ImageTokens, string>> = Object.freeze({
  imageStart: "<|image_start|>",
  imageEnd: "<|image_end|>",
  tileXSeparator: "<|tile_x_separator|>",
  tileYSeparator: "<|tile_y_separator|>",
  image: "<|image|>",
  patch: "<|patch|>",
});

/** Embeddings per 336×336 tile: (336/14)² patches after a 0.5 pixel shuffle. */
const LLAMA4_PATCHES_PER_TILE = 144;

/** Tokens one image adds to the prompt. */
export function imageTokenCount(canvas: Canvas, patchesPerTile: number = LLAMA4_PATCHES_PER_TILE): number {
  const n = canvas.rows * canvas.cols;
  return n === 1 ? patchesPerTile + 3 : n * (patchesPerTile + 1) + patchesPerTile + 3;
}

/** The token ids that stand for one image of grid `canvas`. */
export function expandImageTokens(canvas: Canvas, tokens: Llama4ImageTokens, patchesPerTile: number = LLAMA4_PATCHES_PER_TILE): number[] {
  const out: number[] = [tokens.imageStart];
  const patches = () => {
    for (let i = 0; i < patchesPerTile; i++) out.push(tokens.patch);
  };
  if (canvas.rows * canvas.cols > 1) {
    for (let r = 0; r < canvas.rows; r++) {
      for (let c = 0; c < canvas.cols; c++) {
        patches();
        if (c < canvas.cols - 1) out.push(tokens.tileXSeparator);
      }
      out.push(tokens.tileYSeparator);
    }
  }
  out.push(tokens.image);
  patches();
  out.push(tokens.imageEnd);
  return out;
}

/**
 * Reads the marker ids from a vocabulary: each marker's text must tokenize (special tokens parsed,
 * nothing added) to exactly one token. Returns null when the vocabulary lacks any of them.
 */
export async function resolveImageTokens(tokenize: (text: string) => Promise<number[]>): Promise<Llama4ImageTokens | null> {
  const keys = Object.keys(LLAMA4_IMAGE_TOKEN_TEXT) as Array<keyof Llama4ImageTokens>;
  const ids = await Promise.all(keys.map((k) => tokenize(LLAMA4_IMAGE_TOKEN_TEXT[k])));
  const out: Partial<Llama4ImageTokens> = {};
  for (let i = 0; i < keys.length; i++) {
    const t = ids[i] as number[];
    if (t.length !== 1) return null;
    out[keys[i] as keyof Llama4ImageTokens] = t[0] as number;
  }
  return out as Llama4ImageTokens;
}

/**
 * Patches per tile from projector metadata when present (`clip.vision.image_size`,
 * `clip.vision.patch_size`, `clip.vision.projector.scale_factor`), else Llama 4's 144.
 */
export function patchesPerTileFromMetadata(meta: Readonly<Record<string, string>> | undefined): number {
  const num = (k: string) => {
    const v = Number(meta?.[k]);
    return Number.isFinite(v) && v > 0 ? v : null;
  };
  const size = num("clip.vision.image_size");
  const patch = num("clip.vision.patch_size");
  const scale = num("clip.vision.projector.scale_factor");
  if (size === null || patch === null || scale === null || size % patch !== 0) return LLAMA4_PATCHES_PER_TILE;
  const side = size / patch / scale;
  return Number.isInteger(side) ? side * side : LLAMA4_PATCHES_PER_TILE;
}
