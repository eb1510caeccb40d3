/**
 * Bilinear resize of packed 8-bit RGB exactly as Hugging Face's Llama 4 image processor does it:
 * `torchvision.transforms.v2.functional.resize(uint8 tensor, size, BILINEAR, antialias=True)`, which
 * on CPU runs PyTorch's uint8 antialiased kernel (`aten/src/ATen/native/cpu/UpSampleKernel.cpp`,
 * `_compute_indices_int16_weights_aa`, and its AVX2 twin `UpSampleKernelAVXAntialias.h`, both ported
 * from Pillow-SIMD). The semantics, reproduced bit for bit here:
 *
 * - separable: a horizontal pass (only when the width changes) into an 8-bit buffer, then a vertical
 *   pass (only when the height changes) over that buffer; an unchanged size is a copy;
 * - half-pixel centres, no align-corners: `scale = in / out`, `center = scale · (i + 0.5)`;
 * - antialias: the triangle filter's support grows with the downscale factor (`support = scale` when
 *   scale ≥ 1, else 1, the filter argument divided by scale) — upscaling is plain bilinear;
 * - taps `xmin = max(trunc(center − support + 0.5), 0)` to `min(trunc(center + support + 0.5), in)`,
 *   weights normalised to sum 1 in float64;
 * - fixed point: weights become int16 `trunc(0.5 + w · 2^p)`, `p` the largest precision (< 22) with
 *   `round(wmax · 2^(p+1)) < 2^15`; each output is `clamp((2^(p−1) + Σ k·x) >> p, 0, 255)`.
 * @module
 */

/** Per-output-pixel taps of one axis: first input index, tap count, int16 weights (`stride` per output). */
export interface AxisTaps {
  xmin: Int32Array;
  xsize: Int32Array;
  weights: Int32Array;
  stride: number;
  precision: number;
}

/** PyTorch's `_compute_indices_int16_weights_aa` for the bilinear (triangle) filter, align_corners=false. */
export function computeAxisTaps(inSize: number, outSize: number): AxisTaps {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const invscale = scale >= 1 ? 1 / scale : 1;
  const stride = Math.ceil(support) * 2 + 1;
  const xmin = new Int32Array(outSize);
  const xsize = new Int32Array(outSize);
  const wf = new Float64Array(outSize * stride);
  let wmax = 0;
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    // C++ static_cast<int64_t> truncates toward zero.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const size = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    xmin[i] = lo;
    xsize[i] = size;
    let total = 0;
    for (let j = 0; j < size; j++) {
      let x = (j + lo - center + 0.5) * invscale;
      if (x < 0) x = -x;
      const w = x < 1 ? 1 - x : 0;
      wf[i * stride + j] = w;
      total += w;
    }
    for (let j = 0; j < size; j++) {
      if (total !== 0) wf[i * stride + j] = (wf[i * stride + j] as number) / total;
      const w = wf[i * stride + j] as number;
      if (w > wmax) wmax = w;
    }
  }
  let precision = 0;
  for (; precision < 22; precision++) {
    // (int)(0.5 + w_max * (1 << (precision + 1))) >= 1 << 15
    if (Math.trunc(0.5 + wmax * 2 ** (precision + 1)) >= 1 << 15) break;
  }
  const weights = new Int32Array(outSize * stride);
  const mul = 2 ** precision;
  for (let k = 0; k < wf.length; k++) weights[k] = Math.trunc(0.5 + (wf[k] as number) * mul);
  return { xmin, xsize, weights, stride, precision };
}

/** Horizontal pass over rows [y0, y1) of `src` (w × h × 3) into `dst` (outW × h × 3; clamping stores to 0..255). */
function horizontalRows(src: Uint8Array, w: number, dst: Uint8ClampedArray, outW: number, t: AxisTaps, y0: number, y1: number): void {
  const { xmin, xsize, weights, stride, precision } = t;
  const initial = 1 << (precision - 1);
  for (let y = y0; y < y1; y++) {
    const rowIn = y * w * 3;
    const rowOut = y * outW * 3;
    for (let x = 0; x < outW; x++) {
      const lo = xmin[x] as number;
      const n = xsize[x] as number;
      const kb = x * stride;
      let r = initial;
      let g = initial;
      let b = initial;
      let p = rowIn + lo * 3;
      for (let j = 0; j < n; j++, p += 3) {
        const k = weights[kb + j] as number;
        r += k * (src[p] as number);
        g += k * (src[p + 1] as number);
        b += k * (src[p + 2] as number);
      }
      const o = rowOut + x * 3;
      dst[o] = r >> precision;
      dst[o + 1] = g >> precision;
      dst[o + 2] = b >> precision;
    }
  }
}

/** Vertical pass: output rows [y0, y1) of `dst` (w × outH × 3) from `src` (w × h × 3). */
function verticalRows(src: Uint8Array, w: number, dst: Uint8ClampedArray, t: AxisTaps, y0: number, y1: number): void {
  const { xmin, xsize, weights, stride, precision } = t;
  const initial = 1 << (precision - 1);
  const rowLen = w * 3;
  for (let y = y0; y < y1; y++) {
    const lo = xmin[y] as number;
    const n = xsize[y] as number;
    const kb = y * stride;
    const rowOut = y * rowLen;
    for (let c = 0; c < rowLen; c++) {
      let acc = initial;
      let p = lo * rowLen + c;
      for (let j = 0; j < n; j++, p += rowLen) acc += (weights[kb + j] as number) * (src[p] as number);
      dst[rowOut + c] = acc >> precision;
    }
  }
}

/** Lets other work run between slices of a long resize. */
export type Yield = () => Promise<void>;

/** Rows per slice between yields: about 2 M multiply-adds. */
function sliceRows(rowCost: number): number {
  return Math.max(1, Math.floor(2_000_000 / Math.max(1, rowCost)));
}

/**
 * Resizes packed RGB `src` (w × h) to outW × outH, bit-exact with PyTorch's uint8 antialiased
 * bilinear. `yieldEvery`, when given, is awaited between slices of rows so a large resize does not
 * hold the event loop for long.
 */
export async function resizeRgbBilinear(
  src: Uint8Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
  yieldEvery?: Yield,
): Promise<Uint8Array> {
  if (src.length !== w * h * 3) throw new RangeError(`resizeRgbBilinear: expected ${w * h * 3} bytes, got ${src.length}`);
  if (outW < 1 || outH < 1) throw new RangeError(`resizeRgbBilinear: bad output size ${outW}×${outH}`);
  if (w === outW && h === outH) return src.slice();
  let cur = src;
  if (outW !== w) {
    const t = computeAxisTaps(w, outW);
    const out = new Uint8Array(outW * h * 3);
    const clamped = new Uint8ClampedArray(out.buffer);
    const step = sliceRows(outW * 3 * t.stride);
    for (let y = 0; y < h; y += step) {
      horizontalRows(cur, w, clamped, outW, t, y, Math.min(h, y + step));
      if (yieldEvery && y + step < h) await yieldEvery();
    }
    cur = out;
  }
  if (outH !== h) {
    const t = computeAxisTaps(h, outH);
    const out = new Uint8Array(outW * outH * 3);
    const clamped = new Uint8ClampedArray(out.buffer);
    const step = sliceRows(outW * 3 * t.stride);
    for (let y = 0; y < outH; y += step) {
      verticalRows(cur, outW, clamped, t, y, Math.min(outH, y + step));
      if (yieldEvery && y + step < outH) await yieldEvery();
    }
    cur = out;
  }
  return cur;
}
