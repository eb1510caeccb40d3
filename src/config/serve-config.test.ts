import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_MAX_MODEL_LEN } from "../common/serving-defaults.js";
import { defaultEngineConfig, ENGINE_DEFAULTS, finalizeEngineConfig } from "../engine/config.js";
import { findInstance } from "../planner/instances.js";
import { knownModelSpec } from "../planner/known-models.js";
import { makePlan } from "../planner/plan.js";
import { resolveS3Settings } from "../storage/s3-settings.js";
import { flagEnvName, processEnv } from "./env.js";
import {
  ConfigError,
  describeServeConfig,
  optionDefaultText,
  parseKvEventsConfig,
  resolveServeConfig,
  SERVE_DEFAULTS,
  SERVE_OPTIONS,
  type ServeOption,
} from "./serve-config.js";

afterEach(() => vi.unstubAllEnvs());

describe("resolveServeConfig", () => {
  it("has the guide's defaults, the engine's for engine settings, and leaves model-derived ones to the engine", () => {
    const c = resolveServeConfig({}, { useEnv: false });
    expect(c).toMatchObject({
      model: null,
      host: "0.0.0.0",
      port: 8000,
      apiKey: null,
      allowedOrigins: [],
      maxModelLen: null,
      maxNumSeqs: ENGINE_DEFAULTS.maxNumSeqs,
      maxNumBatchedTokens: ENGINE_DEFAULTS.maxNumBatchedTokens,
      device: "cpu",
      loadMode: "auto",
      shutdownTimeoutMs: 30_000,
    });
    expect(c).toEqual(SERVE_DEFAULTS);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("derives --help defaults from SERVE_DEFAULTS", () => {
    const opt = (flag: string) => SERVE_OPTIONS.find((o) => o.flag === flag) as ServeOption;
    expect(optionDefaultText(opt("port"))).toBe("8000");
    expect(optionDefaultText(opt("max-num-seqs"))).toBe(String(ENGINE_DEFAULTS.maxNumSeqs));
    expect(optionDefaultText(opt("enable-prefix-caching"))).toBe("true");
    expect(optionDefaultText(opt("shutdown-timeout"))).toBe("30");
    expect(optionDefaultText(opt("max-request-body-bytes"))).toBe("8388608 (8 MiB)");
    expect(optionDefaultText(opt("limit-mm-per-prompt"))).toBe("image=5");
    expect(optionDefaultText(opt("max-model-len"))).toContain(String(DEFAULT_MAX_MODEL_LEN));
    expect(optionDefaultText(opt("api-key"))).toBeUndefined();
    // A defaultText only explains defaults that are not plain values.
    for (const o of SERVE_OPTIONS.filter((o) => o.defaultText !== undefined)) {
      const v = SERVE_DEFAULTS[o.key];
      expect(v === null || (Array.isArray(v) && v.length === 0) || o.key === "loadMode", o.flag).toBe(true);
    }
  });

  it("herd plan and herd serve default to the same context length and sequence count", () => {
    const model = knownModelSpec("scout")!;
    const plan = makePlan({ model, instance: findInstance("p5.48xlarge")! });
    const engine = finalizeEngineConfig(defaultEngineConfig("scout"), model.maxPositionEmbeddings);
    expect(plan.maxModelLen).toBe(DEFAULT_MAX_MODEL_LEN);
    expect(engine.maxModelLen).toBe(plan.maxModelLen);
    expect(resolveServeConfig({}, { useEnv: false }).maxNumSeqs).toBe(plan.maxNumSeqs);
    // Capped at the model's own context by both.
    expect(finalizeEngineConfig(defaultEngineConfig("small"), 2048).maxModelLen).toBe(2048);
    expect(makePlan({ model: { ...model, maxPositionEmbeddings: 2048 }, instance: findInstance("p5.48xlarge")! }).maxModelLen).toBe(2048);
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

  it("takes model sources with the other options: artifacts, verification, S3 and transfer settings", () => {
    expect(resolveServeConfig({}, { useEnv: false })).toMatchObject({
      verify: "full",
      artifacts: null,
      artifactCache: null,
      s3Endpoint: null,
      partSize: 16,
      concurrency: 4,
      progress: true,
    });
    vi.stubEnv("HERD_VERIFY", "size");
    vi.stubEnv("HERD_ARTIFACTS", "s3://bucket/models");
    vi.stubEnv("HERD_ARTIFACT_CACHE", "/cache");
    const c = resolveServeConfig({ partSize: "8", progress: false, concurrency: "2" });
    expect(c).toMatchObject({ verify: "size", artifacts: "s3://bucket/models", artifactCache: "/cache", partSize: 8, progress: false });
    expect(c.concurrency).toBe(2);
    expect(() => resolveServeConfig({ concurrency: "65" }, { useEnv: false })).toThrow(/--concurrency must be an integer in 1\.\.64/);
    expect(() => resolveServeConfig({ verify: "some" }, { useEnv: false })).toThrow(
      /--verify \(or HERD_VERIFY\) must be one of full, size, none/,
    );
  });

  it("reads the S3 variables storage/s3-settings.ts reads, in the same order", () => {
    vi.stubEnv("AWS_ENDPOINT_URL", "http://a");
    vi.stubEnv("AWS_DEFAULT_REGION", "eu-west-1");
    vi.stubEnv("HERD_S3_FORCE_PATH_STYLE", "false");
    vi.stubEnv("HERD_S3_CHECKSUM", "when_supported");
    const c = resolveServeConfig();
    const fromStorage = resolveS3Settings({}, processEnv());
    expect([c.s3Endpoint, c.s3Region, c.s3ForcePathStyle, c.s3Checksum]).toEqual([
      fromStorage.endpoint,
      fromStorage.region,
      fromStorage.forcePathStyle,
      fromStorage.checksum,
    ]);
    vi.stubEnv("AWS_ENDPOINT_URL_S3", "http://b");
    vi.stubEnv("AWS_REGION", "us-west-2");
    expect([resolveServeConfig().s3Endpoint, resolveServeConfig().s3Region]).toEqual(["http://b", "us-west-2"]);
    expect(resolveS3Settings({}, processEnv())).toMatchObject({ endpoint: "http://b", region: "us-west-2" });
  });

  it("maps every flag to a distinct config key and env var", () => {
    expect(new Set(SERVE_OPTIONS.map((o) => o.key)).size).toBe(SERVE_OPTIONS.length);
    expect(flagEnvName("max-num-batched-tokens")).toBe("HERD_MAX_NUM_BATCHED_TOKENS");
  });
});

describe("--kv-events-config and --block-size (vLLM's flags)", () => {
  it("takes vLLM's JSON: enabled → endpoint and topic, disabled → off, malformed → an error naming the flag", () => {
    const on = '{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:5557", "topic": "kv-events"}';
    expect(resolveServeConfig({ kvEventsConfig: on }, { useEnv: false }).kvEventsConfig).toEqual({
      endpoint: "tcp://*:5557",
      topic: "kv-events",
    });
    expect(parseKvEventsConfig('{"enable_kv_cache_events": true}')).toEqual({ endpoint: "tcp://*:5557", topic: "" });
    expect(parseKvEventsConfig('{"enable_kv_cache_events": false, "publisher": "zmq"}')).toBe(false);
    expect(parseKvEventsConfig('{"enable_kv_cache_events": true, "publisher": "null"}')).toBe(false);
    expect(resolveServeConfig({ kvEventsConfig: '{"enable_kv_cache_events": false}' }, { useEnv: false }).kvEventsConfig).toBeNull();
    for (const bad of ["{", '{"publisher": "kafka"}', '{"enable_kv_cache_events": "yes"}', '{"endpoint": 5}']) {
      expect(() => resolveServeConfig({ kvEventsConfig: bad }, { useEnv: false })).toThrow(/--kv-events-config/);
    }
    expect(resolveServeConfig({}, { useEnv: false })).toMatchObject({ kvEventsConfig: null, blockSize: 16 });
    expect(resolveServeConfig({ blockSize: "32" }, { useEnv: false }).blockSize).toBe(32);
    expect(() => resolveServeConfig({ blockSize: "0" }, { useEnv: false })).toThrow(/--block-size/);
  });
});
