import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import koffi from "koffi";
import { ensureEmbeddedMmproj, ensureEmbeddedModel } from "../model/embedded.js";
import { generateLlama4Mmproj } from "../model/llama4/random-mmproj.js";
import { getBindings, type Bindings, type ModelPtr } from "./bindings.js";
import { installLlamaLog } from "./log.js";
import {
  checkMtmdAbi,
  getMtmdBindings,
  installMtmdLog,
  llamaCppToHfOrder,
  MtmdChunkType,
  readMmprojInfo,
  VisionEncoder,
  type MtmdBindings,
  type MtmdChunkPtr,
} from "./mtmd.js";
import { ensureLibmtmd } from "./mtmd-build.js";

const TILE = 336;

/** A deterministic test picture: smooth gradients plus a few hard edges, so patches differ. */
function picture(seed: number): Uint8Array {
  const rgb = new Uint8Array(TILE * TILE * 3);
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      const i = (y * TILE + x) * 3;
      rgb[i] = (x * 255) / (TILE - 1);
      rgb[i + 1] = (y * 255) / (TILE - 1);
      rgb[i + 2] = ((x >> 4) + (y >> 4) + seed) % 2 ? 220 : (x * y + seed * 97) % 256;
    }
  }
  return rgb;
}

/** 24-bit BMP of a packed RGB image (bottom-up BGR rows; 336 × 3 is a multiple of 4, so no row padding). */
function bmp(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const data = w * h * 3;
  const out = Buffer.alloc(54 + data);
  out.write("BM", 0, "latin1");
  out.writeUInt32LE(54 + data, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(data, 34);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = 54 + ((h - 1 - y) * w + x) * 3;
      out[d] = rgb[s + 2]!;
      out[d + 1] = rgb[s + 1]!;
      out[d + 2] = rgb[s]!;
    }
  }
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

let b: Bindings;
let mb: MtmdBindings;
let lib: string;
let model: ModelPtr;
let mmproj: string;
let enc: VisionEncoder;
/** Same tower, rows in mtmd's own (column-major) order. */
let raw: VisionEncoder;
let dir: string;
const warnings: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-mtmd-"));
  const [modelPath, mmprojPath, libPath] = await Promise.all([ensureEmbeddedModel(), ensureEmbeddedMmproj(), ensureLibmtmd("cpu")]);
  mmproj = mmprojPath;
  lib = libPath;
  b = getBindings("cpu");
  installLlamaLog(b, () => {}, 4);
  mb = getMtmdBindings(lib, "cpu");
  installMtmdLog(mb, (_level, line) => warnings.push(line));
  const m = b.modelLoadFromFile(modelPath, { ...b.modelDefaultParams(), n_gpu_layers: 0 });
  if (!m) throw new Error(`could not load ${modelPath}`);
  model = m;
  // One thread: ggml's spinning threadpool collapses when the cores are shared (see docs/engine.md).
  enc = await VisionEncoder.create(mmproj, model, 1, { libmtmd: lib });
  raw = await VisionEncoder.create(mmproj, model, 1, { libmtmd: lib, tokenOrder: "llama.cpp" });
}, 30 * 60_000);

afterAll(async () => {
  await enc?.dispose();
  await raw?.dispose();
  if (model) b.modelFree(model);
  await rm(dir, { recursive: true, force: true });
});

describe("libmtmd binding", () => {
  it("passes the ABI check and reads the mmproj's vision keys through ggml's GGUF reader", () => {
    expect(() => checkMtmdAbi(mb)).not.toThrow();
    expect(readMmprojInfo(mb, mmproj)).toEqual({
      projectorType: "llama4",
      imageSize: 336,
      patchSize: 14,
      scaleFactor: 2,
      projectionDim: 128,
    });
    expect(mb.defaultMarker()).toBe("<__media__>");
  });

  it("loads the random mmproj with the tiny model: 144 embeddings of n_embd 128 per 336 px tile", () => {
    expect(enc.tileSize).toBe(336);
    expect(enc.tokensPerTile).toBe(144);
    expect(enc.nEmbd).toBe(128);
    expect(mb.modelNEmbdInp(model)).toBe(128);
    expect(warnings.filter((w) => !/llama 4 vision is known to have degraded quality|pull\/13282/.test(w))).toEqual([]);
  });
});

describe("VisionEncoder.encodeTile", () => {
  it("returns tokensPerTile × nEmbd finite, non-degenerate floats", () => {
    const out = enc.encodeTile(picture(0), TILE);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(144 * 128);
    expect(out.every(Number.isFinite)).toBe(true);
    const mean = out.reduce((s, v) => s + v, 0) / out.length;
    const std = Math.sqrt(out.reduce((s, v) => s + (v - mean) ** 2, 0) / out.length);
    expect(std).toBeGreaterThan(0.05);
    expect(maxAbsDiff(out.subarray(0, 128), out.subarray(128, 256))).toBeGreaterThan(1e-3); // rows differ
  });

  it("is deterministic (same tile twice, and in a second context) and depends on the pixels", async () => {
    const a = enc.encodeTile(picture(1), TILE);
    expect(enc.encodeTile(picture(1), TILE)).toEqual(a);
    const other = await VisionEncoder.create(mmproj, model, 2, { libmtmd: lib, warmup: false }); // and another thread count
    try {
      expect(maxAbsDiff(other.encodeTile(picture(1), TILE), a)).toBeLessThan(1e-5);
    } finally {
      await other.dispose();
    }
    expect(maxAbsDiff(enc.encodeTile(picture(2), TILE), a)).toBeGreaterThan(1e-2);
  });

  it("puts merged patch (r, c) in row 12·r + c, as HF does (llama.cpp's own order is column-major: 12·c + r)", () => {
    const base = picture(3);
    const changed = base.slice();
    const [r, c] = [5, 7]; // a 28×28 block = one 2×2 group of 14 px patches
    for (let y = r * 28; y < r * 28 + 28; y++)
      for (let x = c * 28; x < c * 28 + 28; x++) changed.fill(255 - base[(y * TILE + x) * 3]!, (y * TILE + x) * 3, (y * TILE + x) * 3 + 3);
    const mostChanged = (e: VisionEncoder) => {
      const a = e.encodeTile(base, TILE);
      const d = e.encodeTile(changed, TILE);
      const rowChange = Array.from({ length: 144 }, (_, i) =>
        maxAbsDiff(a.subarray(i * 128, i * 128 + 128), d.subarray(i * 128, i * 128 + 128)),
      );
      return rowChange.indexOf(Math.max(...rowChange));
    };
    expect(mostChanged(enc)).toBe(12 * r + c);
    expect(mostChanged(raw)).toBe(12 * c + r);
    const x = raw.encodeTile(base, TILE);
    expect(enc.encodeTile(base, TILE)).toEqual(llamaCppToHfOrder(x, 12, 128));
  });

  it("encodeTileAsync gives the same result and queues concurrent calls", async () => {
    const sync = [enc.encodeTile(picture(4), TILE), enc.encodeTile(picture(5), TILE)];
    const [x, y] = await Promise.all([enc.encodeTileAsync(picture(4), TILE), enc.encodeTileAsync(picture(5), TILE)]);
    expect(x).toEqual(sync[0]);
    expect(y).toEqual(sync[1]);
    const pending = enc.encodeTileAsync(picture(4), TILE);
    expect(() => enc.encodeTile(picture(4), TILE)).toThrow(/in flight/);
    await pending;
  });

  it("rejects tiles that are not exactly image_size (mtmd would resize or slice them)", async () => {
    expect(() => enc.encodeTile(new Uint8Array(112 * 112 * 3), 112)).toThrow(/does not match the mmproj's image_size 336/);
    expect(() => enc.encodeTile(new Uint8Array(10), TILE)).toThrow(/has 338688 bytes, got 10/);
    await expect(enc.encodeTileAsync(new Uint8Array(10), TILE)).rejects.toThrow(/bytes/);
  });

  it("refuses an mmproj whose projection width is not the text model's", async () => {
    const bench = (await generateLlama4Mmproj(join(dir, "bench-mmproj.gguf"), "bench")).path;
    await expect(VisionEncoder.create(bench, model, 1, { libmtmd: lib })).rejects.toThrow(
      /projects to 1024 but the text model's n_embd is 128/,
    );
  });

  it("equals llama.cpp's mtmd path (image file → stb decode → mtmd_tokenize of a chat prompt → mtmd_encode_chunk), one-tile image", () => {
    const rgb = picture(6);
    // llama-server's path: the image file's bytes through mtmd_helper_bitmap_init_from_buf.
    const helper = koffi.load(lib);
    const videoParams = koffi.struct({ fps_target: "float", ffmpeg_bin_dir: "const char *", timestamp_interval_ms: "int64_t" });
    const initOpt = koffi.struct({ video_params: videoParams });
    const wrapper = koffi.struct({ bitmap: "void *", video_ctx: "void *" });
    const optDefault = helper.func("mtmd_helper_init_opt_default", initOpt, []) as () => unknown;
    const fromBuf = helper.func("mtmd_helper_bitmap_init_from_buf", wrapper, ["void *", "const uint8_t *", "size_t", "bool", initOpt]) as (
      ctx: bigint,
      buf: Uint8Array,
      len: number,
      placeholder: boolean,
      opt: unknown,
    ) => { bitmap: bigint | null };
    const ctx = mb.initFromFile(mmproj, model, { ...mb.contextParamsDefault(), n_threads: 2, print_timings: false, use_gpu: false });
    expect(ctx).not.toBeNull();
    const file = bmp(rgb, TILE, TILE);
    const { bitmap } = fromBuf(ctx!, file, file.length, false, optDefault());
    expect(bitmap).not.toBeNull();
    const chunks = mb.inputChunksInit();
    try {
      const prompt = "<|begin_of_text|><|header_start|>user<|header_end|>\n\n<__media__>What is in this picture?<|eot|>";
      const rc = mb.tokenize(
        ctx!,
        chunks,
        { text: prompt, text_len: Buffer.byteLength(prompt), add_special: true, parse_special: true },
        new BigUint64Array([bitmap!]),
        1,
      );
      expect(rc).toBe(0);
      const types: number[] = [];
      let image: MtmdChunkPtr | undefined;
      for (let i = 0; i < mb.inputChunksSize(chunks); i++) {
        const c = mb.inputChunksGet(chunks, i);
        types.push(mb.chunkGetType(c));
        if (mb.chunkGetType(c) === MtmdChunkType.IMAGE) image = c;
      }
      // One image chunk of 144 tokens: llama.cpp's llava-uhd makes no slices for a one-tile image.
      expect(types).toEqual([MtmdChunkType.TEXT, MtmdChunkType.IMAGE, MtmdChunkType.TEXT]);
      expect(mb.chunkGetNTokens(image!)).toBe(144);
      expect(mb.encodeChunk(ctx!, image!)).toBe(0);
      const reference = new Float32Array(koffi.view(mb.getOutputEmbd(ctx!)!, 144 * 128 * 4)).slice();

      const ours = raw.encodeTile(rgb, TILE);
      const diff = maxAbsDiff(ours, reference);
      console.log(
        `encodeTile (llama.cpp order) vs llama.cpp's mtmd path: max |Δ| = ${diff} over ${ours.length} floats ` +
          `(max |x| = ${Math.max(...reference.map(Math.abs)).toFixed(3)})`,
      );
      // In HF order it is the same rows, transposed.
      expect(maxAbsDiff(enc.encodeTile(rgb, TILE), llamaCppToHfOrder(reference, 12, 128))).toBeLessThan(1e-5);
      expect(maxAbsDiff(enc.encodeTile(rgb, TILE), reference)).toBeGreaterThan(1e-2);
      expect(diff).toBeLessThan(1e-5);
    } finally {
      mb.inputChunksFree(chunks);
      mb.bitmapFree(bitmap as never);
      mb.free(ctx!);
    }
  });

  it("encodes a tile in milliseconds", () => {
    const rgb = picture(7);
    enc.encodeTile(rgb, TILE);
    const n = 10;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) enc.encodeTile(rgb, TILE);
    const ms = (performance.now() - t0) / n;
    console.log(`encodeTile: ${ms.toFixed(1)} ms per 336 px tile (tiny tower, 1 thread, ${enc.tokensPerTile} embeddings × ${enc.nEmbd})`);
    expect(ms).toBeLessThan(1000);
  });
});
