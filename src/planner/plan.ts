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
 * @module
 */
import { DEFAULT_MAX_MODEL_LEN, DEFAULT_MAX_NUM_SEQS } from "../common/serving-defaults.js";
import { deviceResource, type InstanceType } from "./instances.js";
import type { ModelSpec } from "./model-spec.js";
import {
  countParams,
  EXACT_DTYPES,
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

export type Backend = "herd" | "vllm-neuron";

export interface PlanInput {
  readonly model: ModelSpec;
  readonly instance: InstanceType;
  readonly dtype?: WeightDtype;
  readonly kvDtype?: KvDtype;
  /** Default: DEFAULT_MAX_MODEL_LEN (16384, the guide's and `herd serve`'s), capped at the model's maximum. */
  readonly maxModelLen?: number;
  /** Default: 1 on Neuron (the guide's), DEFAULT_MAX_NUM_SEQS for herd (`herd serve`'s default). */
  readonly maxNumSeqs?: number;
  /** Devices to request; default: the whole node on Neuron, the fewest that fit on GPUs. */
  readonly devices?: number;
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

function backendOf(i: InstanceType): Backend {
  return i.accelerator === "neuron" ? "vllm-neuron" : "herd";
}

function roundUpGiB(bytes: number, step = 1): number {
  return Math.ceil(bytes / GiB / step) * step * GiB;
}

interface Sizing {
  devices: number;
  tp: number | null;
  memory: number;
  replication: number;
}

function sizingFor(input: PlanInput, devices: number): Sizing {
  const { instance: i, model: m } = input;
  if (i.accelerator === "cpu") return { devices: 0, tp: null, memory: i.nodeMemoryBytes, replication: 1 };
  const tp = i.accelerator === "neuron" ? devices * i.coresPerDevice : null;
  const replication = tp !== null && tp > m.numKvHeads ? tp / m.numKvHeads : 1;
  return { devices, tp, memory: devices * i.memoryPerDeviceBytes, replication };
}

function validDeviceCounts(i: InstanceType): number[] {
  const counts: number[] = [];
  for (let d = 1; d <= i.devices; d *= 2) counts.push(d);
  if (!counts.includes(i.devices)) counts.push(i.devices);
  return counts;
}

export function makePlan(input: PlanInput): Plan {
  const { model: m, instance: i } = input;
  const warnings: string[] = [];
  const problems: string[] = [];
  const backend = backendOf(i);
  const dtype: WeightDtype | string = m.measured ? m.measured.fileType : (input.dtype ?? "bf16");
  if (m.measured && input.dtype && input.dtype !== m.measured.fileType)
    warnings.push(`--dtype ${input.dtype} ignored: the GGUF's tensors are ${m.measured.fileType}`);
  const kvDtype = input.kvDtype ?? "bf16";
  const params = countParams(m);
  const wBytes = m.measured ? m.measured.weightBytes : weightBytes(m, dtype as WeightDtype);
  const kv = kvShape(m, kvDtype);
  const maxLen = Math.min(input.maxModelLen ?? DEFAULT_MAX_MODEL_LEN, m.maxPositionEmbeddings);
  if (input.maxModelLen !== undefined && input.maxModelLen > m.maxPositionEmbeddings) {
    warnings.push(`--max-model-len ${input.maxModelLen} is above the model's maximum ${m.maxPositionEmbeddings}; using ${maxLen}`);
  }
  const seqs = input.maxNumSeqs ?? (backend === "vllm-neuron" ? 1 : DEFAULT_MAX_NUM_SEQS);
  if (!Number.isInteger(seqs) || seqs < 1) throw new PlanError(`--max-num-seqs must be a positive integer (got ${seqs})`);
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new PlanError(`--max-model-len must be a positive integer (got ${maxLen})`);
  const perSeq = kvBytes(kv, maxLen);

  const need = (s: Sizing) => wBytes + seqs * perSeq * s.replication + s.memory * HEADROOM_FRACTION;
  let sizing: Sizing;
  if (input.devices !== undefined) {
    if (i.accelerator === "cpu" && input.devices !== 0) throw new PlanError(`${i.name} has no accelerators: --devices must be 0`);
    if (i.accelerator !== "cpu" && (!Number.isInteger(input.devices) || input.devices < 1 || input.devices > i.devices)) {
      throw new PlanError(`${i.name} has ${i.devices} ${i.deviceName} devices: --devices must be 1…${i.devices} (got ${input.devices})`);
    }
    sizing = sizingFor(input, input.devices);
  } else if (i.accelerator === "nvidia") {
    const counts = validDeviceCounts(i);
    sizing = counts.map((d) => sizingFor(input, d)).find((s) => need(s) <= s.memory) ?? sizingFor(input, i.devices);
  } else {
    sizing = sizingFor(input, i.devices);
  }

  const headroom = sizing.memory * HEADROOM_FRACTION;
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
  } else {
    if (dtype === "fp8") problems.push("fp8 is not a GGUF type: herd (llama.cpp) serves bf16, q8_0 or q4_k_m");
    if (i.arch !== "x86_64") problems.push(`${i.name} is ${i.arch}: herd's native libraries and image are linux-x64 only`);
  }
  if (!EXACT_DTYPES.has(dtype as WeightDtype) && !m.measured)
    warnings.push(`${dtype} weight bytes are an estimate (block scales and mixed tensor types)`);

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
    sizing.tp !== null
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

/** The catalog's instances on which this model fits (same dtype, context and batch), smallest memory first. */
export function instancesThatFit(input: Omit<PlanInput, "instance" | "devices">, catalog: readonly InstanceType[]): Plan[] {
  return catalog
    .map((instance) => makePlan({ ...input, instance }))
    .filter((p) => p.fits && p.problems.length === 0)
    .sort((a, b) => a.memoryBytes - b.memoryBytes);
}
