/**
 * The uint8 antialiased bilinear resize against references written independently here:
 *
 * - `denseReference`: the same PyTorch/Pillow semantics, computed densely (every input pixel gets
 *   its triangle weight; no tap windows) with the documented int16 fixed point — must be bit-equal;
 * - `floatReference`: the float64 filter with no intermediate rounding (torch's float path,
 *   rounded once at the end) — the fixed point and the 8-bit intermediate stay within ±2;
 * - hand-computed values.
 */
import { describe, expect, it } from "vitest";
import { computeAxisTaps, resizeRgbBilinear } from "./resample.js";

/** Normalised triangle weights of output `i` over all `n` inputs (half-pixel centres, support scaled when shrinking). */
function denseWeights(n: number, outN: number, i: number): number[] {
  const scale = n / outN;
  const stretch = Math.max(scale, 1);
  const center = (i + 0.5) * scale;
  const w = Array.from({ length: n }, (_, j) => Math.max(0, 1 - Math.abs((j + 0.5 - center) / stretch)));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

function quantise(n: number, outN: number): { k: number[][]; prec: number } {
  const rows = Array.from({ length: outN }, (_, i) => denseWeights(n, outN, i));
  const wmax = Math.max(...rows.flat());
  let prec = 0;
  while (prec < 22 && Math.floor(0.5 + wmax * 2 ** (prec + 1)) < 32768) prec++;
  return { k: rows.map((r) => r.map((w) => Math.floor(0.5 + w * 2 ** prec))), prec };
}

function denseReference(src: Uint8Array, w: number, h: number, ow: number, oh: number): Uint8Array {
  const clip = (v: number) => Math.min(255, Math.max(0, v));
  let cur = src;
  let cw = w;
  if (ow !== w) {
    const { k, prec } = quantise(w, ow);
    const out = new Uint8Array(ow * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < ow; x++)
        for (let c = 0; c < 3; c++) {
          let acc = 2 ** (prec - 1);
          for (let j = 0; j < w; j++) acc += (k[x]?.[j] ?? 0) * (cur[(y * w + j) * 3 + c] ?? 0);
          out[(y * ow + x) * 3 + c] = clip(Math.floor(acc / 2 ** prec));
        }
    cur = out;
    cw = ow;
  }
  if (oh !== h) {
    const { k, prec } = quantise(h, oh);
    const out = new Uint8Array(cw * oh * 3);
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < cw; x++)
        for (let c = 0; c < 3; c++) {
          let acc = 2 ** (prec - 1);
          for (let j = 0; j < h; j++) acc += (k[y]?.[j] ?? 0) * (cur[(j * cw + x) * 3 + c] ?? 0);
          out[(y * cw + x) * 3 + c] = clip(Math.floor(acc / 2 ** prec));
        }
    cur = out;
  }
  return cur;
}

function floatReference(src: Uint8Array, w: number, h: number, ow: number, oh: number): Float64Array {
  const out = new Float64Array(ow * oh * 3);
  const wx = Array.from({ length: ow }, (_, i) => denseWeights(w, ow, i));
  const wy = Array.from({ length: oh }, (_, i) => denseWeights(h, oh, i));
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let j = 0; j < h; j++) {
          const a = wy[y]?.[j] ?? 0;
          if (a === 0) continue;
          for (let i = 0; i < w; i++) acc += a * (wx[x]?.[i] ?? 0) * (src[(j * w + i) * 3 + c] ?? 0);
        }
        out[(y * ow + x) * 3 + c] = acc;
      }
  return out;
}

/** Deterministic noisy test picture (noise is where resamplers disagree most). */
function picture(w: number, h: number, seed: number): Uint8Array {
  const a = new Uint8Array(w * h * 3);
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const px = Math.floor(i / 3);
    a[i] = ((px % w) * 5 + Math.floor(px / w) * 3 + (s >>> 26)) & 255;
  }
  return a;
}

describe("resizeRgbBilinear", () => {
  const cases: Array<[number, number, number, number]> = [
    [7, 5, 13, 11], // upscale both
    [20, 9, 6, 4], // downscale both (support > 1)
    [9, 9, 9, 17], // vertical only
    [37, 8, 12, 8], // horizontal only, non-integer ratio
    [11, 30, 23, 7], // up one way, down the other
    [337, 3, 336, 3], // the 337×336 example's horizontal shrink
    [3, 1, 1, 1], // one output pixel
  ];
  it.each(cases)("%i×%i → %i×%i is bit-equal to the dense fixed-point reference", async (w, h, ow, oh) => {
    const src = picture(w, h, w * 31 + h);
    const got = await resizeRgbBilinear(src, w, h, ow, oh);
    expect(Buffer.from(got).equals(Buffer.from(denseReference(src, w, h, ow, oh)))).toBe(true);
  });

  it.each(cases)("%i×%i → %i×%i stays within ±2 of the exact float filter", async (w, h, ow, oh) => {
    const src = picture(w, h, w + h * 7);
    const got = await resizeRgbBilinear(src, w, h, ow, oh);
    const ref = floatReference(src, w, h, ow, oh);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs((got[i] as number) - (ref[i] as number)));
    expect(max).toBeLessThanOrEqual(2);
  });

  it("matches hand-computed values: 2→4 upscale is 0, 25, 75, 100 (edges clamp, half-pixel centres)", async () => {
    const src = new Uint8Array([0, 0, 0, 100, 100, 100]);
    const got = await resizeRgbBilinear(src, 2, 1, 4, 1);
    expect(Array.from(got.filter((_, i) => i % 3 === 0))).toEqual([0, 25, 75, 100]);
    // 4→2 averages pairs (support 2: weights 1/8, 3/8, 3/8, 1/8 over the inside taps, renormalised at edges).
    const down = await resizeRgbBilinear(new Uint8Array([0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120]), 4, 1, 2, 1);
    // out0: taps 0..2 weights (0.75, 0.75, 0.25)/1.75 → 40·0.75/1.75 + 80·0.25/1.75 = 28.57 → 29; out1 mirrors → 91.
    expect(Array.from(down.filter((_, i) => i % 3 === 0))).toEqual([29, 91]);
  });

  it("keeps a flat colour flat and copies at equal size", async () => {
    const flat = new Uint8Array(10 * 6 * 3).fill(77);
    expect((await resizeRgbBilinear(flat, 10, 6, 336, 201)).every((v) => v === 77)).toBe(true);
    const src = picture(5, 4, 1);
    const same = await resizeRgbBilinear(src, 5, 4, 5, 4);
    expect(same).toEqual(src);
    expect(same).not.toBe(src);
  });

  it("yields between slices when asked, with the same result", async () => {
    const src = picture(600, 400, 3);
    let yields = 0;
    const a = await resizeRgbBilinear(src, 600, 400, 336, 224, async () => {
      yields++;
    });
    expect(yields).toBeGreaterThan(0);
    expect(Buffer.from(a).equals(Buffer.from(await resizeRgbBilinear(src, 600, 400, 336, 224)))).toBe(true);
  });

  it("picks PyTorch's int16 weight precision", () => {
    // Upscaling: max weight 1 → 14 bits (2^15 would overflow int16).
    expect(computeAxisTaps(100, 336).precision).toBe(14);
    // 4000 → 336: max weight ≈ 1/11.9 → more bits.
    const t = computeAxisTaps(4000, 336);
    expect(t.precision).toBeGreaterThan(14);
    expect(Math.max(...t.weights)).toBeLessThan(32768);
  });
});
