/** A request's images: order kept, the failing index named, identical URLs decoded once. */
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { AddressPolicy } from "./address-policy.js";
import { ImageLoadError, loadImages, type ImageLoadOptions } from "./load.js";

const OPTS: ImageLoadOptions = {
  fetch: {
    timeoutMs: 1000,
    maxBytes: 1_000_000,
    maxRedirects: 0,
    allowedDomains: [],
    addresses: new AddressPolicy(),
    allowedLocalPath: null,
  },
  decode: { maxPixels: 1_000_000 },
};
const dataUrl = async (w: number, h: number) =>
  `data:image/png;base64,${(
    await sharp({ create: { width: w, height: h, channels: 3, background: "gray" } })
      .png()
      .toBuffer()
  ).toString("base64")}`;

describe("loadImages", () => {
  it("keeps request order and shares work for a repeated URL", async () => {
    const a = await dataUrl(100, 100);
    const b = await dataUrl(700, 300);
    const out = await loadImages([a, b, a], OPTS);
    expect(out.map((o) => o.plan.numTiles)).toEqual([1, 3, 1]);
    expect(out[2]).toBe(out[0]);
  });

  it("names the index of the image that failed", async () => {
    const a = await dataUrl(10, 10);
    try {
      await loadImages([a, "data:image/png;base64,AAAA", a], OPTS);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ImageLoadError);
      expect((err as ImageLoadError).index).toBe(1);
      expect((err as ImageLoadError).error.code).toBe("invalid_image");
    }
  });

  it("stops when the request is aborted", async () => {
    const ac = new AbortController();
    ac.abort(new Error("client went away"));
    await expect(loadImages([await dataUrl(10, 10)], OPTS, ac.signal)).rejects.toThrow("client went away");
  });
});
