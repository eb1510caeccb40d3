import { describe, expect, it } from "vitest";
import type { EngineStats } from "../engine/types.js";
import { idleEngineStats } from "../../test/fixtures/fake-engine.js";
import { ServerMetrics } from "./metrics.js";

const stats = (over: Partial<EngineStats> = {}): EngineStats =>
  idleEngineStats({
    numRunning: 1,
    numWaiting: 2,
    kvCacheUsage: 0.25,
    kvCellsUsed: 256,
    kvCellsTotal: 1024,
    hasProducedToken: true,
    ...over,
  });

describe("ServerMetrics: what GIE's endpoint picker reads", () => {
  it("vllm:cache_config_info reports the block size and the KV cache in blocks", async () => {
    const m = new ServerMetrics("tiny", { blockSize: 32, enablePrefixCaching: true });
    m.setEngineState(stats(), true);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^vllm:cache_config_info\{[^}]*block_size="32"[^}]*num_gpu_blocks="32"[^}]*\} 1$/m);
    expect(text).toMatch(/^vllm:cache_config_info\{model_name="tiny"/m);
    m.setEngineState(stats({ kvCellsTotal: 4096 }), true);
    const again = await m.registry.metrics();
    expect(again.match(/^vllm:cache_config_info\{/gm)).toHaveLength(1);
    expect(again).toContain('num_gpu_blocks="128"');
  });

  it("vllm:lora_requests_info says no adapters; the queue and KV gauges are there", async () => {
    const m = new ServerMetrics("tiny");
    m.setEngineState(stats(), true);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^vllm:lora_requests_info\{[^}]*max_lora="0"[^}]*running_lora_adapters=""[^}]*waiting_lora_adapters=""/m);
    expect(text).toMatch(/^vllm:num_requests_waiting\{model_name="tiny"\} 2$/m);
    expect(text).toMatch(/^vllm:num_requests_running\{model_name="tiny"\} 1$/m);
    expect(text).toMatch(/^vllm:kv_cache_usage_perc\{model_name="tiny"\} 0.25$/m);
  });
});
