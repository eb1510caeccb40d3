/**
 * One request's images, from URL to engine input: fetch → decode → Llama 4 tiles + hash. Identical
 * URLs within a request are fetched and decoded once; CPU-heavy steps (decode in libvips threads,
 * resampling on the main thread in slices) are bounded process-wide so a burst of image requests
 * cannot starve text requests.
 * @module
 */
import { decodeImage, type DecodeLimits } from "./decode.js";
import { MediaError } from "./errors.js";
import { fetchImageBytes, type MediaFetchPolicy } from "./fetch.js";
import { preprocessLlama4, type PreprocessedImage } from "./llama4-preprocess.js";

export interface ImageLoadOptions {
  readonly fetch: MediaFetchPolicy;
  readonly decode: DecodeLimits;
  readonly tileSize?: number;
  readonly maxTiles?: number;
}

/** Which image of the request failed, and why. */
export class ImageLoadError extends Error {
  override readonly name = "ImageLoadError";
  constructor(
    readonly index: number,
    readonly error: MediaError,
  ) {
    super(error.message, { cause: error });
  }
}

/** A counting semaphore. */
class Limiter {
  #free: number;
  #waiters: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/** Decode + tiling jobs running at once, process-wide. */
const cpuLimiter = new Limiter(2);

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Fetch, decode and tile one image. Throws MediaError. */
async function loadImage(url: string, opts: ImageLoadOptions, signal?: AbortSignal): Promise<PreprocessedImage> {
  const bytes = await fetchImageBytes(url, opts.fetch, signal);
  signal?.throwIfAborted();
  return cpuLimiter.run(async () => {
    signal?.throwIfAborted();
    const decoded = await decodeImage(bytes, opts.decode);
    const tiling: { tileSize?: number; maxTiles?: number; yieldEvery: () => Promise<void> } = { yieldEvery: yieldToLoop };
    if (opts.tileSize !== undefined) tiling.tileSize = opts.tileSize;
    if (opts.maxTiles !== undefined) tiling.maxTiles = opts.maxTiles;
    return preprocessLlama4(decoded, tiling);
  });
}

/**
 * All images of a request, in order. The first failure aborts the rest and is thrown as
 * ImageLoadError naming its index; aborting `signal` (client gone) stops everything.
 */
export async function loadImages(urls: readonly string[], opts: ImageLoadOptions, signal?: AbortSignal): Promise<PreprocessedImage[]> {
  const ac = new AbortController();
  const inner = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
  const byUrl = new Map<string, Promise<PreprocessedImage>>();
  const jobs = urls.map((url, index) => {
    let p = byUrl.get(url);
    if (!p) {
      p = loadImage(url, opts, inner);
      byUrl.set(url, p);
    }
    return p.catch((err: unknown) => {
      if (err instanceof MediaError) throw new ImageLoadError(index, err);
      throw err;
    });
  });
  try {
    return await Promise.all(jobs);
  } catch (err) {
    ac.abort();
    // The others settle on their own; keep their rejections handled.
    for (const j of jobs) j.catch(() => undefined);
    throw err;
  }
}
