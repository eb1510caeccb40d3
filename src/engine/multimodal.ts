/**
 * Where a multimodal prompt's image embeddings go, and how its KV is keyed for prefix reuse.
 *
 * The prompt holds one placeholder token per embedding. For prefix matching the engine compares
 * *keys*, not token ids: a text position's key is its token id (≥ 0), an image position's key is a
 * negative number derived from the image's content hash and the embedding's index in that image —
 * so two requests with the same image share KV, and two with different images never do.
 * @module
 */
import { InvalidRequestError } from "../common/errors.js";
import type { VisionRunner } from "./runner/model-runner.js";
import type { ImageInput, TokenId } from "./types.js";

export class MultiModalPrompt {
  /** For each prompt position: -1 for text, else the global index of its embedding row. */
  readonly embeddingIndex: Int32Array;
  /** KV key of each prompt position. */
  readonly keys: Int32Array;
  /** The image content hash behind each image position's key (what KV-cache events report as extra keys). */
  readonly imageHashOfKey = new Map<number, string>();
  readonly #tiles: Uint8Array[] = [];
  readonly #encoded: (Float32Array | null)[] = [];

  constructor(
    prompt: readonly TokenId[],
    images: readonly ImageInput[],
    readonly vision: VisionRunner,
  ) {
    const perTile = vision.embeddingsPerTile;
    let expected = 0;
    images.forEach((img, i) => {
      if (img.tileSize !== vision.tileSize) {
        throw new InvalidRequestError(
          `image ${i} was tiled at ${img.tileSize} px, but this model's vision encoder takes ${vision.tileSize} px tiles`,
          { param: "images" },
        );
      }
      for (const t of img.tiles) {
        if (t.length !== vision.tileSize * vision.tileSize * 3)
          throw new InvalidRequestError(`image ${i} has a tile of ${t.length} bytes (expected ${vision.tileSize ** 2 * 3})`, {
            param: "images",
          });
        this.#tiles.push(t);
        this.#encoded.push(null);
      }
      expected += img.tiles.length * perTile;
    });
    this.embeddingIndex = new Int32Array(prompt.length).fill(-1);
    this.keys = new Int32Array(prompt.length);
    let row = 0;
    let image = 0;
    let rowInImage = 0;
    for (let pos = 0; pos < prompt.length; pos++) {
      const t = prompt[pos]!;
      if (t !== vision.placeholderTokenId) {
        this.keys[pos] = t;
        continue;
      }
      if (row >= expected) break; // counted below
      while (rowInImage >= images[image]!.tiles.length * perTile) {
        image++;
        rowInImage = 0;
      }
      this.embeddingIndex[pos] = row;
      this.keys[pos] = imageKey(images[image]!.hash, rowInImage);
      this.imageHashOfKey.set(this.keys[pos]!, images[image]!.hash);
      row++;
      rowInImage++;
    }
    let placeholders = 0;
    for (const t of prompt) if (t === vision.placeholderTokenId) placeholders++;
    if (placeholders !== expected) {
      throw new InvalidRequestError(
        `the prompt has ${placeholders} image placeholder tokens, but its ${images.length} image(s) give ${expected} embeddings`,
        { param: "images" },
      );
    }
  }

  /** Length of the run of positions of the same kind (text or image) starting at `pos`, capped at `max`. */
  runLength(pos: number, max: number): number {
    const isImage = pos < this.embeddingIndex.length && this.embeddingIndex[pos]! >= 0;
    let n = 1;
    while (n < max && pos + n < this.embeddingIndex.length && this.embeddingIndex[pos + n]! >= 0 === isImage) n++;
    // Output positions (beyond the prompt) are text.
    if (!isImage && pos + n >= this.embeddingIndex.length) return max;
    return n;
  }

  /** Embeddings for prompt positions [pos, pos + n), encoding the tiles they come from on first use. */
  embeddingsFor(pos: number, n: number): Float32Array | null {
    const first = this.embeddingIndex[pos] ?? -1;
    if (first < 0) return null;
    const { embeddingsPerTile: perTile, embdSize } = this.vision;
    const out = new Float32Array(n * embdSize);
    for (let k = 0; k < n; k++) {
      const row = first + k;
      const tile = Math.floor(row / perTile);
      let enc = this.#encoded[tile];
      if (!enc) {
        enc = this.vision.encodeTile(this.#tiles[tile]!);
        this.#encoded[tile] = enc;
      }
      const r = row - tile * perTile;
      out.set(enc.subarray(r * embdSize, (r + 1) * embdSize), k * embdSize);
    }
    return out;
  }
}

/** A negative KV key for embedding `row` of the image with content hash `hash`. */
function imageKey(hash: string, row: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hash.length; i++) h = Math.imul(h ^ hash.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ row, 0x9e3779b1) ^ (row >>> 16);
  return -1 - ((h >>> 1) & 0x3fffffff);
}
