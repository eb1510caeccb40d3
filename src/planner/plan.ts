/**
 * The capacity plan: model × instance × dtype × context/batch → memory, fit, devices, TP, limits.
 *
 * Memory model (one pod per node, weights sharded evenly over the devices it requests):
 *
 *   weights + KV × replication + headroom ≤ devices × memory per device     (accelerators)
 *   weights + KV + headroom               ≤ node memory                      (CPU)
 *
 * - KV is per sequence at `maxModelLen`, chunked-attention aware (params.ts), times `maxNumSeqs`
 *   (NxD Inference and vLLM reserve it statically per batch slot).
 * - Replication: with tensor parallelism above the KV-head count each rank holds a copy of one KV
 *   head (NxD Inference's REPLICATE_TO_TP_DEGREE, vLLM likewise): TP 64 over 8 heads stores KV 8×.
 * - Headroom: 10 % of the memory for activations, compiled graphs / CUDA context and the runtime
 *   (vLLM's gpu_memory_utilization 0.9); on CPU it stands for the OS, kubelet and compute buffers.
 *
 * Backend `vllm` (vLLM on NVIDIA GPUs) follows vLLM's own memory model instead, per GPU:
 *
 *   KV cache = gpu_memory_utilization × GPU memory − weights / TP − non-KV memory of the profile run
 *
 * and the plan fits when that KV pool holds max-num-seqs sequences of max-model-len tokens (vLLM
 * refuses to start unless it holds one). See VLLM_NON_KV_BYTES_PER_GPU for the estimate and sources.
 *
 * Default weight type (`--dtype`): the backend's natural one (defaultDtype): q8_0 for herd, which
 * is what `herd compile` writes by default (DEFAULT_HERD_QUANT), bf16 for vLLM and vLLM-Neuron.
 * @module
 */
import { DEFAULT_HERD_QUANT, DEFAULT_MAX_MODEL_LEN, DEFAULT_MAX_NUM_SEQS } from "../common/serving-defaults.js";
import { type Accelerator, deviceResource, INSTANCE_CATALOG, type InstanceType } from "./instances.js";
import type { ModelSpec } from "./model-spec.js";
import { hourlyPrice } from "./prices.js";
import {
  BYTES_PER_PARAM,
  countParams,
  EXACT_DTYPES,
  flatKvShape,
  type KvDtype,
  kvBytes,
  kvBytesNaive,
  kvShape,
  type KvShape,
  maxTokensForKv,
  type ParamCounts,
  type WeightDtype,
  weightBytes,
} from "./params.js";

/** herd: this server (llama.cpp; CPU or NVIDIA); vllm: vLLM on NVIDIA GPUs; vllm-neuron: vLLM on Trainium/Inferentia. */
export type Backend = "herd" | "vllm-neuron" | "vllm";
export const BACKENDS: readonly Backend[] = ["herd", "vllm", "vllm-neuron"];

/** The weight types each backend serves, largest first. */
export const BACKEND_DTYPES: Readonly<Record<Backend, readonly WeightDtype[]>> = {
  herd: ["bf16", "q8_0", "q4_k_m"],
  vllm: ["bf16", "fp8"],
  "vllm-neuron": ["bf16", "fp8"],
};

/** The backends that run on an instance, the default first: Neuron → vllm-neuron; NVIDIA → herd or vllm; CPU → herd. */
export function backendsFor(i: InstanceType): readonly Backend[] {
  return i.accelerator === "neuron" ? ["vllm-neuron"] : i.accelerator === "nvidia" ? ["herd", "vllm"] : ["herd"];
}

const HERD_DEFAULT_DTYPE: WeightDtype = DEFAULT_HERD_QUANT.toLowerCase() as Lowercase<typeof DEFAULT_HERD_QUANT>;

/**
 * The weight type planned when none is given: the backend's natural serving type. herd: q8_0, what
 * `herd compile` writes without --quant (one constant, DEFAULT_HERD_QUANT), so a plan sizes the
 * artifact the compile produces; vllm-neuron: bf16 (Neuron compiles the bf16 checkpoint, the guide);
 * vllm: bf16, the checkpoint's own type (`--dtype fp8` for `--quantization fp8`).
 */
export function defaultDtype(backend: Backend): WeightDtype {
  return backend === "herd" ? HERD_DEFAULT_DTYPE : "bf16";
}

/** vLLM's default `--gpu-memory-utilization`: the share of each GPU's memory it may take (weights, activations, KV cache). */
export const VLLM_GPU_MEMORY_UTILIZATION = 0.9;

/**
 * Memory per GPU, inside gpu_memory_utilization, that is neither weights nor KV cache: an estimate of
 * what vLLM's profile run measures at startup (`determine_available_memory` in
 * vllm/v1/worker/gpu_worker.py, logged as "Memory profiling results"): non-torch memory (CUDA
 * context, NCCL and custom all-reduce buffers: 1.79 GiB at TP 1, 3.58 GiB at TP 2 for Llama-3-8B on
 * an H100, vllm-project/vllm PR #10511) plus the PyTorch activation peak of one forward pass over
 * --max-num-batched-tokens (1.26 GiB there; Llama 4's wider hidden size and MoE routing raise it).
 * 6 GiB covers both. CUDA graphs are captured after the KV cache is sized and live in the
 * remaining 1 − gpu_memory_utilization.
 */
export const VLLM_NON_KV_BYTES_PER_GPU = 6 * 2 ** 30;

export interface PlanInput {
  readonly model: ModelSpec;
  readonly instance: InstanceType;
  /** Default: the instance's first in backendsFor (herd on NVIDIA and CPU, vllm-neuron on Neuron). */
  readonly backend?: Backend;
  /** Default: defaultDtype(backend). */
  readonly dtype?: WeightDtype;
  readonly kvDtype?: KvDtype;
  /** Default: DEFAULT_MAX_MODEL_LEN (16384, the guide's and `herd serve`'s), capped at the model's maximum. */
  readonly maxModelLen?: number;
  /** Default: 1 on Neuron (the guide's), DEFAULT_MAX_NUM_SEQS for herd (`herd serve`'s default). */
  readonly maxNumSeqs?: number;
  /** Devices to request; default: the whole node on Neuron, the fewest that fit on GPUs. */
  readonly devices?: number;
  /** vllm only: `--gpu-memory-utilization` (default VLLM_GPU_MEMORY_UTILIZATION). */
  readonly gpuMemoryUtilization?: number;
}

/** A model id naming a checkpoint already in fp8 (`…-FP8`): vLLM reads its quantization from its config. */
const PREQUANTIZED_FP8 = /fp8/i;

/** What a `vllm` plan passes to vLLM and what vLLM's memory profile should then report. */
export interface VllmSizing {
  readonly gpuMemoryUtilization: number;
  /** `--quantization fp8` for fp8 weights from a bf16 checkpoint; null otherwise (bf16, or a checkpoint that is fp8 already). */
  readonly quantization: "fp8" | null;
  /** `--kv-cache-dtype`. */
  readonly kvCacheDtype: "auto" | "fp8";
  /** VLLM_NON_KV_BYTES_PER_GPU: activations and non-torch memory of the profile run. */
  readonly nonKvBytesPerGpu: number;
  /** gpu_memory_utilization × GPU memory − weights / TP − non-KV: the KV pool on each GPU. */
  readonly kvCacheBytesPerGpu: number;
  /** Tokens that pool holds (all GPUs, replication counted). */
  readonly kvCacheTokens: number;
  /** vLLM's "Maximum concurrency for max-model-len tokens per request". */
  readonly maxConcurrency: number;
}

export interface Plan {
  readonly model: ModelSpec;
  readonly instance: InstanceType;
  readonly backend: Backend;
  readonly dtype: WeightDtype | string;
  /** False when the weight bytes are an estimate (q8_0 / q4_k_m from a config). */
  readonly weightBytesExact: boolean;
  readonly kvDtype: KvDtype;
  readonly params: ParamCounts;
  readonly weightBytes: number;
  readonly kv: KvShape;
  /** KV bytes per token with every layer counted (the first `chunk` tokens of a sequence cost this each). */
  readonly kvBytesPerTokenFull: number;
  /** KV bytes per token past the first chunk (only the global layers grow). */
  readonly kvBytesPerTokenMarginal: number;
  readonly maxModelLen: number;
  readonly maxNumSeqs: number;
  readonly kvBytesPerSeq: number;
  readonly kvBytesPerSeqNaive: number;
  readonly kvReplication: number;
  /** maxNumSeqs × kvBytesPerSeq × kvReplication. */
  readonly kvBytesTotal: number;
  readonly headroomBytes: number;
  readonly memoryBytes: number;
  readonly usedBytes: number;
  readonly fits: boolean;
  /** Device count to request (extended resource), 0 on CPU. */
  readonly devices: number;
  readonly deviceResource: string | null;
  /** Tensor-parallel degree for vLLM; null for herd (llama.cpp splits layers across GPUs). */
  readonly tensorParallelSize: number | null;
  readonly perDevice: {
    readonly weightBytes: number;
    readonly kvBytes: number;
    readonly headroomBytes: number;
    readonly memoryBytes: number;
  } | null;
  /** Per tensor-parallel rank (a logical NeuronCore): even sharding, replicated KV heads. null without TP. */
  readonly perRank: { readonly weightBytes: number; readonly kvBytes: number; readonly memoryBytes: number } | null;
  /** Largest maxModelLen that fits at this maxNumSeqs (capped at the model's maximum). */
  readonly maxModelLenThatFits: number;
  /** Largest maxNumSeqs that fits at this maxModelLen. */
  readonly maxNumSeqsThatFits: number;
  /** Host memory the pod should request. */
  readonly podMemoryBytes: number;
  /** On-demand USD per hour in us-east-1 (prices.ts), null when unknown. */
  readonly hourlyUsd: number | null;
  /** vLLM's memory model (backend vllm only). */
  readonly vllm: VllmSizing | null;
  /** Notes worth reading (estimates, clamped flags). */
  readonly warnings: readonly string[];
  /** Why this backend cannot serve this model/dtype here, even if memory fits. */
  readonly problems: readonly string[];
}

/** Input the caller got wrong (unknown flag value, impossible device count). */
export class PlanError extends Error {
  override readonly name = "PlanError";
}

export const HEADROOM_FRACTION = 0.1;
const GiB = 2 ** 30;

function roundUpGiB(bytes: number, step = 1): number {
  return Math.ceil(bytes / GiB / step) * step * GiB;
}

interface Sizing {
  devices: number;
  tp: number | null;
  memory: number;
  replication: number;
}

function sizingFor(input: PlanInput, backend: Backend, devices: number): Sizing {
  const { instance: i, model: m } = input;
  if (i.accelerator === "cpu") return { devices: 0, tp: null, memory: i.nodeMemoryBytes, replication: 1 };
  const tp = i.accelerator === "neuron" ? devices * i.coresPerDevice : backend === "vllm" ? devices : null;
  const replication = tp !== null && tp > m.numKvHeads ? tp / m.numKvHeads : 1;
  return { devices, tp, memory: devices * i.memoryPerDeviceBytes, replication };
}

/** GPU counts to try, fewest first: powers of two (and the whole node); for vLLM only TP degrees that divide the attention heads. */
function validDeviceCounts(i: InstanceType, backend: Backend, m: ModelSpec): number[] {
  const counts: number[] = [];
  for (let d = 1; d <= i.devices; d *= 2) counts.push(d);
  if (!counts.includes(i.devices)) counts.push(i.devices);
  return backend === "vllm" ? counts.filter((d) => m.numAttentionHeads % d === 0) : counts;
}

export function makePlan(input: PlanInput): Plan {
  const { model: m, instance: i } = input;
  const warnings: string[] = [];
  const problems: string[] = [];
  const backend = input.backend ?? backendsFor(i)[0]!;
  if (!backendsFor(i).includes(backend)) {
    const what = i.accelerator === "cpu" ? "a CPU instance" : `${i.deviceName} (${i.accelerator})`;
    throw new PlanError(`--backend ${backend} does not run on ${i.name}, ${what}: use ${backendsFor(i).join(" or ")}`);
  }
  const dtype: WeightDtype | string = m.measured ? m.measured.fileType : (input.dtype ?? defaultDtype(backend));
  if (m.measured && input.dtype && input.dtype !== m.measured.fileType)
    warnings.push(`--dtype ${input.dtype} ignored: the GGUF's tensors are ${m.measured.fileType}`);
  const kvDtype = input.kvDtype ?? "bf16";
  const util = input.gpuMemoryUtilization ?? VLLM_GPU_MEMORY_UTILIZATION;
  if (!(util > 0 && util <= 1)) throw new PlanError(`--gpu-memory-utilization must be in (0, 1] (got ${util})`);
  const params = countParams(m);
  const wBytes = m.measured ? m.measured.weightBytes : weightBytes(m, dtype as WeightDtype);
  // vLLM gives Llama 4's chunked layers chunk-sized KV only with its hybrid KV-cache manager, on or
  // off by default depending on the version (llama4.md §2.4): plan every layer at full length.
  const kvChunked = kvShape(m, kvDtype);
  const kv = backend === "vllm" ? flatKvShape(kvChunked) : kvChunked;
  const maxLen = Math.min(input.maxModelLen ?? DEFAULT_MAX_MODEL_LEN, m.maxPositionEmbeddings);
  if (input.maxModelLen !== undefined && input.maxModelLen > m.maxPositionEmbeddings) {
    warnings.push(`--max-model-len ${input.maxModelLen} is above the model's maximum ${m.maxPositionEmbeddings}; using ${maxLen}`);
  }
  const seqs = input.maxNumSeqs ?? (backend === "vllm-neuron" ? 1 : DEFAULT_MAX_NUM_SEQS);
  if (!Number.isInteger(seqs) || seqs < 1) throw new PlanError(`--max-num-seqs must be a positive integer (got ${seqs})`);
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new PlanError(`--max-model-len must be a positive integer (got ${maxLen})`);
  const perSeq = kvBytes(kv, maxLen);

  const headroomOf = (s: Sizing) =>
    backend === "vllm" ? s.memory * (1 - util) + s.devices * VLLM_NON_KV_BYTES_PER_GPU : s.memory * HEADROOM_FRACTION;
  const need = (s: Sizing) => wBytes + seqs * perSeq * s.replication + headroomOf(s);
  let sizing: Sizing;
  if (input.devices !== undefined) {
    if (i.accelerator === "cpu" && input.devices !== 0) throw new PlanError(`${i.name} has no accelerators: --devices must be 0`);
    if (i.accelerator !== "cpu" && (!Number.isInteger(input.devices) || input.devices < 1 || input.devices > i.devices)) {
      throw new PlanError(`${i.name} has ${i.devices} ${i.deviceName} devices: --devices must be 1…${i.devices} (got ${input.devices})`);
    }
    sizing = sizingFor(input, backend, input.devices);
  } else if (i.accelerator === "nvidia") {
    const counts = validDeviceCounts(i, backend, m);
    sizing =
      counts.map((d) => sizingFor(input, backend, d)).find((s) => need(s) <= s.memory) ??
      sizingFor(input, backend, counts[counts.length - 1] ?? i.devices);
  } else {
    sizing = sizingFor(input, backend, i.devices);
  }

  const headroom = headroomOf(sizing);
  const kvTotal = seqs * perSeq * sizing.replication;
  const used = wBytes + kvTotal + headroom;
  const fits = used <= sizing.memory;
  const kvBudget = sizing.memory - headroom - wBytes;
  const maxLenFits = Math.min(maxTokensForKv(kv, kvBudget / (seqs * sizing.replication)), m.maxPositionEmbeddings);
  const maxSeqsFits = Math.max(0, Math.floor(kvBudget / (perSeq * sizing.replication)));

  if (backend === "vllm-neuron") {
    if (m.source === "gguf")
      problems.push("vllm-neuron cannot load GGUF files: plan a Hugging Face checkpoint for Neuron, or a GPU/CPU instance for GGUF");
    if (dtype === "q8_0" || dtype === "q4_k_m") problems.push(`${dtype} is a llama.cpp format; Neuron serves bf16 (or fp8) checkpoints`);
    if (sizing.tp !== null && sizing.tp % m.numKvHeads !== 0 && m.numKvHeads % sizing.tp !== 0) {
      warnings.push(`TP ${sizing.tp} and ${m.numKvHeads} KV heads do not divide each other`);
    }
  } else if (backend === "vllm") {
    if (m.source === "gguf")
      problems.push(
        "backend vllm serves Hugging Face checkpoints, not GGUF files: plan the Hub id or checkpoint folder, or use backend herd",
      );
    if (dtype === "q8_0" || dtype === "q4_k_m")
      problems.push(`${dtype} is a llama.cpp format: vLLM serves bf16 or fp8 (--dtype fp8 quantizes the weights at load)`);
    if (sizing.tp !== null && m.numAttentionHeads % sizing.tp !== 0)
      problems.push(
        `vLLM splits the ${m.numAttentionHeads} attention heads over tensor parallelism = ${sizing.tp} GPUs, which does not divide them`,
      );
    if (dtype === "fp8" && /^(A100|A10G)/.test(i.deviceName))
      warnings.push(`${i.deviceName} has no fp8 tensor cores: vLLM runs fp8 weights weight-only (Marlin), slower than bf16 compute`);
    if (kvChunked.chunk !== null)
      warnings.push(
        `vLLM KV sized with every layer at full length (${fmtBytes(perSeq)} per sequence; ` +
          `${fmtBytes(kvBytes(kvChunked, maxLen))} if its hybrid KV cache gives the chunked layers ${kvChunked.chunk} tokens)`,
      );
  } else {
    if (dtype === "fp8") problems.push("fp8 is not a GGUF type: herd (llama.cpp) serves bf16, q8_0 or q4_k_m");
    // arm64 (Graviton) CPUs run herd's CPU image (linux/arm64, llama.cpp from @node-llama-cpp/linux-arm64);
    // its GPU builds (llama.cpp CUDA, the -cuda image) are linux-x64 only.
    if (i.arch !== "x86_64" && i.accelerator !== "cpu")
      problems.push(`${i.name} is ${i.arch}: herd's GPU builds (llama.cpp CUDA, the -cuda image) are linux-x64 only`);
  }
  if (!EXACT_DTYPES.has(dtype as WeightDtype) && !m.measured)
    warnings.push(`${dtype} weight bytes are an estimate (block scales and mixed tensor types)`);

  let vllm: VllmSizing | null = null;
  if (backend === "vllm") {
    const perGpu = util * i.memoryPerDeviceBytes - wBytes / sizing.devices - VLLM_NON_KV_BYTES_PER_GPU;
    const tokens = Math.max(0, Math.floor((perGpu * sizing.devices) / (kv.globalPerToken * sizing.replication)));
    vllm = {
      gpuMemoryUtilization: util,
      // A checkpoint quantized already (…-FP8) carries its own quantization config; --quantization would contradict it.
      quantization: dtype === "fp8" && !PREQUANTIZED_FP8.test(m.id) ? "fp8" : null,
      kvCacheDtype: kvDtype === "fp8" ? "fp8" : "auto",
      nonKvBytesPerGpu: VLLM_NON_KV_BYTES_PER_GPU,
      kvCacheBytesPerGpu: perGpu,
      kvCacheTokens: tokens,
      maxConcurrency: tokens / maxLen,
    };
  }

  // Host memory: Neuron shards the checkpoint on the host (about two copies at peak); llama.cpp maps
  // the GGUF (page cache) before copying to GPUs; on CPU weights and KV live in the pod.
  const hostNeed = i.accelerator === "neuron" ? 2 * wBytes : i.accelerator === "nvidia" ? wBytes : wBytes + kvTotal;
  const podMemory = Math.min(roundUpGiB(hostNeed * 1.1 + 4 * GiB, 4), Math.floor((i.nodeMemoryBytes * 0.9) / GiB) * GiB);
  const perDevice =
    sizing.devices > 0
      ? {
          weightBytes: wBytes / sizing.devices,
          kvBytes: kvTotal / sizing.devices,
          headroomBytes: headroom / sizing.devices,
          memoryBytes: i.memoryPerDeviceBytes,
        }
      : null;
  const perRank =
    sizing.tp !== null && sizing.tp !== sizing.devices
      ? {
          weightBytes: wBytes / sizing.tp,
          kvBytes: kvTotal / sizing.tp,
          memoryBytes: (sizing.devices * i.memoryPerDeviceBytes) / sizing.tp,
        }
      : null;
  return {
    model: m,
    instance: i,
    backend,
    dtype,
    weightBytesExact: Boolean(m.measured) || EXACT_DTYPES.has(dtype as WeightDtype),
    kvDtype,
    params,
    weightBytes: wBytes,
    kv,
    kvBytesPerTokenFull: kv.globalPerToken + kv.chunkedPerToken,
    kvBytesPerTokenMarginal: kv.globalPerToken,
    maxModelLen: maxLen,
    maxNumSeqs: seqs,
    kvBytesPerSeq: perSeq,
    kvBytesPerSeqNaive: kvBytesNaive(kv, maxLen),
    kvReplication: sizing.replication,
    kvBytesTotal: kvTotal,
    headroomBytes: headroom,
    memoryBytes: sizing.memory,
    usedBytes: used,
    fits,
    devices: sizing.devices,
    deviceResource: deviceResource(i),
    tensorParallelSize: sizing.tp,
    perDevice,
    perRank,
    maxModelLenThatFits: Math.max(0, maxLenFits),
    maxNumSeqsThatFits: maxSeqsFits,
    podMemoryBytes: podMemory,
    hourlyUsd: hourlyPrice(i),
    vllm,
    warnings,
    problems,
  };
}

/** "217.3 GB (202.4 GiB)": decimal first, binary in brackets, so neither is mistaken for the other. */
export function fmtBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB (${(bytes / GiB).toFixed(1)} GiB)`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`;
  return `${(bytes / 1e3).toFixed(1)} kB (${(bytes / 1024).toFixed(1)} KiB)`;
}

/** One alternative in `whatFits`: a plan summarized, with the flags that select it. */
export interface FitOption {
  readonly instance: string;
  readonly accelerator: Accelerator;
  readonly deviceName: string;
  readonly backend: Backend;
  readonly dtype: string;
  /** False for estimates: q8_0/q4_k_m from a config, or a GGUF requantized. */
  readonly weightBytesExact: boolean;
  readonly weightBytes: number;
  readonly kvBytes: number;
  readonly usedBytes: number;
  readonly memoryBytes: number;
  readonly devices: number;
  readonly tensorParallelSize: number | null;
  readonly fits: boolean;
  readonly hourlyUsd: number | null;
  /** `herd plan` flags that select this option (`--dtype q8_0`, `--instance p5e.48xlarge --backend herd`). */
  readonly flags: string;
  readonly problems: readonly string[];
}

/** What to do when a plan does not fit. */
export interface WhatFits {
  /** Smaller weight types the plan's backend serves, on the plan's instance, largest first; fitting or not. */
  readonly smallerDtypes: readonly FitOption[];
  /** The catalog's other instances that fit at the plan's context and batch: accelerators first, then by hourly price. */
  readonly instances: readonly FitOption[];
}

function fitOption(p: Plan, flags: string): FitOption {
  return {
    instance: p.instance.name,
    accelerator: p.instance.accelerator,
    deviceName: p.instance.deviceName,
    backend: p.backend,
    dtype: p.dtype,
    weightBytesExact: p.weightBytesExact,
    weightBytes: p.weightBytes,
    kvBytes: p.kvBytesTotal,
    usedBytes: p.usedBytes,
    memoryBytes: p.memoryBytes,
    devices: p.devices,
    tensorParallelSize: p.tensorParallelSize,
    fits: p.fits && p.problems.length === 0,
    hourlyUsd: p.hourlyUsd,
    flags,
    problems: p.problems,
  };
}

/** A GGUF's spec as if it were requantized to `dtype`: bytes estimated from its parameter count. */
function requantized(m: ModelSpec, dtype: WeightDtype): ModelSpec {
  if (!m.measured) return m;
  const bytes = Math.ceil(m.measured.totalParams * BYTES_PER_PARAM[dtype]);
  return { ...m, measured: { ...m.measured, weightBytes: bytes, fileType: dtype } };
}

/**
 * The alternatives to a plan that does not fit: (1) the same instance and backend with each smaller
 * weight type the backend serves (a GGUF: as if recompiled with `herd compile --quant`), (2) every
 * other catalog instance on which the model fits at the same context, batch and KV type, with its
 * backend (the plan's where the instance runs it, else the instance's default) and weight type (the
 * plan's where that backend serves it, else the backend's default). Accelerators come first, then
 * CPU instances; within each, the cheapest per hour (unknown prices last), then the least memory.
 */
export function whatFits(plan: Plan, catalog: readonly InstanceType[] = INSTANCE_CATALOG): WhatFits {
  const m = plan.model;
  const base = {
    maxModelLen: plan.maxModelLen,
    maxNumSeqs: plan.maxNumSeqs,
    kvDtype: plan.kvDtype,
    ...(plan.vllm ? { gpuMemoryUtilization: plan.vllm.gpuMemoryUtilization } : {}),
  };
  const bytesNow = plan.weightBytes / plan.params.total;
  const smallerDtypes = BACKEND_DTYPES[plan.backend]
    .filter((d) => BYTES_PER_PARAM[d] < bytesNow * 0.98)
    .map((dtype) => {
      const p = makePlan({ ...base, model: requantized(m, dtype), instance: plan.instance, backend: plan.backend, dtype });
      const flags = m.measured ? `herd compile --quant ${dtype.toUpperCase()} (then plan the new artifact)` : `--dtype ${dtype}`;
      return { ...fitOption(p, flags), weightBytesExact: p.weightBytesExact && !m.measured };
    });
  const group = (a: Accelerator) => (a === "cpu" ? 1 : 0);
  const instances = catalog
    .filter((i) => i.name !== plan.instance.name)
    .map((instance) => {
      const backend = backendsFor(instance).includes(plan.backend) ? plan.backend : backendsFor(instance)[0]!;
      const dtype = BACKEND_DTYPES[backend].includes(plan.dtype as WeightDtype) ? (plan.dtype as WeightDtype) : defaultDtype(backend);
      const p = makePlan({ ...base, model: m, instance, backend, ...(m.measured ? {} : { dtype }) });
      const flags = `--instance ${instance.name}${backend !== backendsFor(instance)[0] ? ` --backend ${backend}` : ""}${
        m.measured || dtype === defaultDtype(backend) ? "" : ` --dtype ${dtype}`
      }`;
      return fitOption(p, flags);
    })
    .filter((o) => o.fits)
    .sort(
      (a, b) =>
        group(a.accelerator) - group(b.accelerator) ||
        (a.hourlyUsd ?? Number.POSITIVE_INFINITY) - (b.hourlyUsd ?? Number.POSITIVE_INFINITY) ||
        a.memoryBytes - b.memoryBytes,
    );
  return { smallerDtypes, instances };
}
