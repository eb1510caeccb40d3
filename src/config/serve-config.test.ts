import { afterEach, describe, expect, it, vi } from "vitest";
import { flagEnvName } from "./env.js";
import { ConfigError, describeServeConfig, resolveServeConfig, SERVE_OPTIONS } from "./serve-config.js";

afterEach(() => vi.unstubAllEnvs());

describe("resolveServeConfig", () => {
  it("has the guide's defaults and leaves engine settings to the engine", () => {
    const c = resolveServeConfig({}, { useEnv: false });
    expect(c).toMatchObject({
      model: null,
      host: "0.0.0.0",
      port: 8000,
      apiKey: null,
      allowedOrigins: [],
      maxModelLen: null,
      maxNumSeqs: null,
      shutdownTimeoutMs: 30_000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("flags win over HERD_* env vars, which win over defaults", () => {
    vi.stubEnv("HERD_PORT", "9000");
    vi.stubEnv("HERD_MAX_NUM_SEQS", "4");
    const c = resolveServeConfig({ maxNumSeqs: "8" });
    expect(c.port).toBe(9000);
    expect(c.maxNumSeqs).toBe(8);
  });

  it("reads HERD_API_KEY, else VLLM_API_KEY, and never logs it", () => {
    vi.stubEnv("VLLM_API_KEY", "from-vllm");
    expect(resolveServeConfig().apiKey).toBe("from-vllm");
    vi.stubEnv("HERD_API_KEY", " from-herd ");
    const c = resolveServeConfig();
    expect(c.apiKey).toBe("from-herd");
    expect(JSON.stringify(describeServeConfig(c))).not.toContain("from-herd");
  });

  it("parses lists, booleans, choices and seconds", () => {
    const c = resolveServeConfig(
      {
        servedModelNames: "a, b",
        allowedOrigins: "https://x.example",
        enablePrefixCaching: false,
        disableLogRequests: "true",
        device: "cuda",
        shutdownTimeoutMs: "5",
        loadMode: "mmap+mlock",
      },
      { useEnv: false },
    );
    expect(c.loadMode).toBe("mmap+mlock");
    expect(c.servedModelNames).toEqual(["a", "b"]);
    expect(c.enablePrefixCaching).toBe(false);
    expect(c.disableLogRequests).toBe(true);
    expect(c.device).toBe("cuda");
    expect(c.shutdownTimeoutMs).toBe(5000);
  });

  it.each([
    [{ port: "eighty" }, "port"],
    [{ port: "-1" }, "port"],
    [{ maxNumSeqs: "0" }, "max-num-seqs"],
    [{ maxModelLen: "1.5" }, "max-model-len"],
    [{ device: "tpu" }, "device"],
    [{ loadMode: "no-mmap" }, "load-mode"],
    [{ disableLogRequests: "maybe" }, "disable-log-requests"],
    [{ servedModelNames: " , " }, "served-model-name"],
  ])("rejects %j naming --%s", (flags, flag) => {
    try {
      resolveServeConfig(flags, { useEnv: false });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).flag).toBe(flag);
      expect((err as Error).message).toContain(`--${flag}`);
      expect((err as Error).message).toContain(flagEnvName(flag));
    }
  });

  it("maps every flag to a distinct config key and env var", () => {
    expect(new Set(SERVE_OPTIONS.map((o) => o.key)).size).toBe(SERVE_OPTIONS.length);
    expect(flagEnvName("max-num-batched-tokens")).toBe("HERD_MAX_NUM_BATCHED_TOKENS");
  });
});
