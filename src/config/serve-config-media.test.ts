/** The image-input flags: vLLM's --limit-mm-per-prompt syntax, fetch timeout (and VLLM_IMAGE_FETCH_TIMEOUT), allowlists. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseMmLimit, resolveServeConfig } from "./serve-config.js";

afterEach(() => vi.unstubAllEnvs());

describe("image input flags", () => {
  it("defaults: 5 images, 20 MiB, 25 MP, 5 s, 5 redirects, nothing private, no files", () => {
    const c = resolveServeConfig({}, { useEnv: false });
    expect(c).toMatchObject({
      limitMmPerPrompt: 5,
      maxImageBytes: 20 * 1024 * 1024,
      maxImagePixels: 25_000_000,
      mediaFetchTimeoutMs: 5000,
      mediaMaxRedirects: 5,
      allowedMediaDomains: [],
      allowedMediaNetworks: [],
      allowedLocalMediaPath: null,
    });
  });

  it("parses vLLM's --limit-mm-per-prompt forms", () => {
    expect(parseMmLimit("image=3")).toBe(3);
    expect(parseMmLimit("image=2,video=0")).toBe(2);
    expect(parseMmLimit('{"image": 0}')).toBe(0);
    expect(parseMmLimit("video=1")).toBeNull();
    expect(parseMmLimit("image=-1")).toBeNull();
    expect(parseMmLimit("image=x")).toBeNull();
    expect(parseMmLimit("{bad json")).toBeNull();
    expect(resolveServeConfig({ limitMmPerPrompt: "image=8" }, { useEnv: false }).limitMmPerPrompt).toBe(8);
    expect(() => resolveServeConfig({ limitMmPerPrompt: "images=8" }, { useEnv: false })).toThrow(ConfigError);
  });

  it("takes the fetch timeout in seconds, from the flag, HERD_* or VLLM_IMAGE_FETCH_TIMEOUT", () => {
    expect(resolveServeConfig({ mediaFetchTimeoutMs: "2" }, { useEnv: false }).mediaFetchTimeoutMs).toBe(2000);
    vi.stubEnv("VLLM_IMAGE_FETCH_TIMEOUT", "9");
    expect(resolveServeConfig().mediaFetchTimeoutMs).toBe(9000);
    vi.stubEnv("HERD_MEDIA_FETCH_TIMEOUT", "3");
    expect(resolveServeConfig().mediaFetchTimeoutMs).toBe(3000);
  });

  it("validates --allowed-media-networks as addresses or CIDRs", () => {
    const c = resolveServeConfig(
      { allowedMediaNetworks: "127.0.0.1/32, 10.0.0.0/8, fd00::/8, 192.168.1.5", allowedMediaDomains: "img.example.com" },
      { useEnv: false },
    );
    expect(c.allowedMediaNetworks).toEqual(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8", "192.168.1.5"]);
    expect(c.allowedMediaDomains).toEqual(["img.example.com"]);
    for (const bad of ["10.0.0.0/33", "example.com", "10.0.0.0/8/1"]) {
      expect(() => resolveServeConfig({ allowedMediaNetworks: bad }, { useEnv: false })).toThrow(/allowed-media-networks/);
    }
  });
});
