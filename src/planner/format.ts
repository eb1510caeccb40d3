/**
 * Text renderings of plans: the detailed report of `herd plan --model …` and the guide-style table
 * of `herd plan` (Scout and Maverick side by side). Every byte figure is printed in decimal GB and
 * binary GiB, because the guide's "GiB" are decimal GB.
 * @module
 */
import { type FitOption, fmtBytes, HEADROOM_FRACTION, type Plan, type WhatFits } from "./plan.js";
import { fmtPrice, PRICE_SOURCE } from "./prices.js";

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "unbounded");
const billions = (n: number) => `${(n / 1e9).toFixed(1)}B`;

/** Aligns rows of cells into columns separated by two spaces. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, c) => (widths[c] = Math.max(widths[c] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n");
}

function expertsLine(p: Plan): string {
  const m = p.model;
  if (m.numExperts === 0) return "dense";
  return (
    `${m.numExperts} routed${m.hasSharedExpert ? " + 1 shared" : ""}, top-${m.numExpertsPerToken}, ` +
    `in ${m.moeLayers.length} of ${m.numLayers} layers`
  );
}

function kvLine(p: Plan): string {
  const { kv, model: m } = p;
  if (kv.chunk === null) return `${int(p.kvBytesPerTokenFull)} B/token (${m.numLayers} layers × ${int(kv.perLayerPerToken)} B)`;
  const global = m.numLayers - m.chunkedLayers.length;
  return (
    `${int(p.kvBytesPerTokenFull)} B/token for the first ${int(kv.chunk)} tokens, then ${int(p.kvBytesPerTokenMarginal)} B/token ` +
    `(${global} of ${m.numLayers} layers keep every token; ${m.chunkedLayers.length} chunked at ${int(kv.chunk)})`
  );
}

function requestLine(p: Plan): string {
  const i = p.instance;
  if (p.devices === 0) return `no accelerator; ${i.vcpus} vCPUs, node memory ${fmtBytes(i.nodeMemoryBytes)}`;
  const tp =
    p.tensorParallelSize !== null
      ? i.accelerator === "neuron"
        ? `, tensor_parallel_size ${p.tensorParallelSize} (${p.devices} devices × ${i.coresPerDevice} ` +
          `logical cores${i.logicalNeuronCoreConfig ? `, LNC=${i.logicalNeuronCoreConfig}` : ""})`
        : `, tensor_parallel_size ${p.tensorParallelSize} (one rank per GPU)`
      : ", layers split across the GPUs (llama.cpp; no tensor parallelism)";
  return `${p.deviceResource}: ${p.devices} of ${i.devices} ${i.deviceName}${tp}`;
}

/** The detailed plan for one model on one instance. */
export function renderPlan(p: Plan): string {
  const m = p.model;
  const i = p.instance;
  const rows: string[][] = [];
  const add = (k: string, v: string) => rows.push([k, v]);
  const vision = p.params.vision > 0 ? `; text ${billions(p.params.text)} + vision ${(p.params.vision / 1e9).toFixed(2)}B` : "";
  add(
    "parameters",
    `${int(p.params.total)} total (${billions(p.params.total)}${vision}), ` +
      `${int(p.params.active)} active per token (${billions(p.params.active)})`,
  );
  add("experts", expertsLine(p));
  add("weights", `${p.weightBytesExact ? "" : "≈ "}${fmtBytes(p.weightBytes)} ${p.dtype}`);
  add(`KV cache (${p.kvDtype})`, kvLine(p));
  add(
    "KV per sequence",
    `${fmtBytes(p.kvBytesPerSeq)} at ${int(p.maxModelLen)} tokens` +
      (p.kvBytesPerSeqNaive > p.kvBytesPerSeq ? ` (every layer at full length would be ${fmtBytes(p.kvBytesPerSeqNaive)})` : ""),
  );
  const repl = p.kvReplication > 1 ? ` × ${p.kvReplication} (TP ${p.tensorParallelSize} replicates ${m.numKvHeads} KV heads)` : "";
  add("KV total", `${p.maxNumSeqs} seq × ${fmtBytes(p.kvBytesPerSeq)}${repl} = ${fmtBytes(p.kvBytesTotal)}`);
  const what =
    i.accelerator === "cpu" ? "node memory: OS, kubelet, compute buffers" : "device memory: activations, compiled graphs, runtime";
  const v = p.vllm;
  add(
    "headroom",
    v
      ? `${fmtBytes(p.headroomBytes)} (${Math.round((1 - v.gpuMemoryUtilization) * 100)} % of GPU memory outside ` +
          `--gpu-memory-utilization ${v.gpuMemoryUtilization}, + ${fmtBytes(v.nonKvBytesPerGpu)} per GPU of activations, ` +
          `CUDA context and NCCL buffers)`
      : `${fmtBytes(p.headroomBytes)} (${HEADROOM_FRACTION * 100} % of ${what})`,
  );
  add("memory", `${fmtBytes(p.usedBytes)} used of ${fmtBytes(p.memoryBytes)} (${((100 * p.usedBytes) / p.memoryBytes).toFixed(1)} %)`);
  add("fits", p.fits && p.problems.length === 0 ? "yes" : p.fits ? "memory yes, but see problems" : "NO");
  add("request", requestLine(p));
  if (p.perDevice) {
    const d = p.perDevice;
    add(
      "per device",
      `weights ${fmtBytes(d.weightBytes)} + KV ${fmtBytes(d.kvBytes)} + headroom ` +
        `${fmtBytes(d.headroomBytes)} of ${fmtBytes(d.memoryBytes)}`,
    );
  }
  if (p.perRank) {
    const r = p.perRank;
    add(
      "per TP rank",
      `weights ${fmtBytes(r.weightBytes)} + KV ${fmtBytes(r.kvBytes)} of ${fmtBytes(r.memoryBytes)} ` +
        `(evenly sharded; norms/routers replicated in practice)`,
    );
  }
  add(
    "largest context",
    `${int(p.maxModelLenThatFits)} tokens at max-num-seqs ${p.maxNumSeqs}` +
      `${p.maxModelLenThatFits === m.maxPositionEmbeddings ? " (the model's maximum)" : ""}`,
  );
  add("largest batch", `${int(p.maxNumSeqsThatFits)} sequences at max-model-len ${int(p.maxModelLen)}`);
  if (v) {
    add(
      "vLLM KV pool",
      v.kvCacheBytesPerGpu > 0
        ? `${fmtBytes(v.kvCacheBytesPerGpu)} per GPU = ${int(v.kvCacheTokens)} tokens, ` +
            `maximum concurrency ${v.maxConcurrency.toFixed(2)}× at ${int(p.maxModelLen)} tokens`
        : `none: weights and non-KV memory exceed the GPUs' share by ${fmtBytes(-v.kvCacheBytesPerGpu)} per GPU`,
    );
    add("vLLM flags", vllmFlags(p));
  }
  add("pod memory", `${(p.podMemoryBytes / 2 ** 30).toFixed(0)} GiB host memory`);
  add("price", `${fmtPrice(p.hourlyUsd)} on demand (us-east-1)`);
  const head = `${m.id} on ${i.name} (backend ${p.backend}, ${p.dtype}, max-model-len ${int(p.maxModelLen)}, max-num-seqs ${p.maxNumSeqs})`;
  const notes = [
    ...p.problems.map((s) => `problem: ${s}`),
    ...p.warnings.map((s) => `note: ${s}`),
    ...(i.note ? [`${i.name}: ${i.note}`] : []),
    `sources: ${i.sources.join("; ")}`,
    "units: GB = 10^9 bytes, GiB = 2^30 bytes",
  ];
  return `${head}\n${renderTable(rows.map(([k, v]) => [`  ${k}`, v!]))}\n${notes.map((n) => `  ${n}`).join("\n")}`;
}

/** The vLLM arguments a `vllm` plan stands for. */
export function vllmFlags(p: Plan): string {
  if (!p.vllm) return "";
  return [
    `--tensor-parallel-size ${p.tensorParallelSize}`,
    `--gpu-memory-utilization ${p.vllm.gpuMemoryUtilization}`,
    `--max-model-len ${p.maxModelLen}`,
    `--max-num-seqs ${p.maxNumSeqs}`,
    ...(p.vllm.quantization ? [`--quantization ${p.vllm.quantization}`] : []),
    ...(p.vllm.kvCacheDtype !== "auto" ? [`--kv-cache-dtype ${p.vllm.kvCacheDtype}`] : []),
  ].join(" ");
}

function optionRow(o: FitOption, lead: readonly string[]): string[] {
  const request =
    o.accelerator === "cpu"
      ? "CPU"
      : `${o.devices} × ${o.deviceName}${o.tensorParallelSize !== null ? `, TP ${o.tensorParallelSize}` : ""}`;
  return [
    ...lead,
    o.backend,
    `${o.weightBytesExact ? "" : "≈ "}${fmtBytes(o.weightBytes)}`,
    `${fmtBytes(o.usedBytes)} of ${fmtBytes(o.memoryBytes)}`,
    request,
    o.fits ? "fits" : o.problems.length ? "no (see plan)" : "no",
    fmtPrice(o.hourlyUsd),
    o.flags,
  ];
}

/** What fits instead of a plan that does not: smaller weight types here, then other instances (at most `limit`). */
export function renderWhatFits(p: Plan, w: WhatFits, limit = 8): string {
  const out: string[] = [];
  const indent = (t: string) => t.split("\n").map((l) => `    ${l}`);
  const head = ["backend", "weights", "used of memory", "request", "fits", "price", "flags"];
  out.push("what fits instead:");
  if (w.smallerDtypes.length) {
    out.push(`  smaller weights on ${p.instance.name}:`);
    out.push(...indent(renderTable([["dtype", ...head], ...w.smallerDtypes.map((o) => optionRow(o, [o.dtype]))])));
  } else {
    out.push(`  no smaller weight type that ${p.backend} serves than ${p.dtype}`);
  }
  if (w.instances.length) {
    const shown = w.instances.slice(0, limit);
    out.push(`  other instances at ${int(p.maxModelLen)} tokens × ${p.maxNumSeqs} sequences (accelerators first, then by price):`);
    out.push(...indent(renderTable([["instance", "dtype", ...head], ...shown.map((o) => optionRow(o, [o.instance, o.dtype]))])));
    if (w.instances.length > shown.length) out.push(`    … and ${w.instances.length - shown.length} more (--json lists all)`);
    out.push(`  prices: ${PRICE_SOURCE}`);
  } else {
    out.push("  no other instance in the catalog fits at this context and batch: lower --max-model-len or --max-num-seqs");
  }
  return out.map((l) => `  ${l}`).join("\n");
}

/**
 * The guide's "Model Memory Requirements" table, recomputed from the configs with honest units:
 * one row per plan (Scout and Maverick on trn2.48xlarge in `herd plan`).
 */
export function renderGuideTable(plans: readonly Plan[]): string {
  const header = ["Model", "Active params", "Total params", "Experts", "Weights", "GB", "GiB", "Instance", "Devices", "TP", "Fits"];
  const rows = plans.map((p) => [
    p.model.id,
    `${billions(p.params.active)} (${int(p.params.active)})`,
    `${billions(p.params.total)} (${int(p.params.total)})`,
    String(p.model.numExperts),
    String(p.dtype),
    (p.weightBytes / 1e9).toFixed(1),
    (p.weightBytes / 2 ** 30).toFixed(1),
    p.instance.name,
    String(p.devices),
    p.tensorParallelSize === null ? "-" : String(p.tensorParallelSize),
    p.fits ? "yes" : "no",
  ]);
  const trn2 = plans.find((p) => p.instance.name === "trn2.48xlarge");
  const notes = [
    'The guide\'s "~220 GiB" and "~800 GiB" are decimal GB (2 bytes × ~109B and ~400B parameters); in GiB they are the column above.',
    ...(trn2
      ? [
          `trn2.48xlarge exposes ${trn2.instance.devices} Neuron devices (aws.amazon.com/neuron), not the guide's 32; ` +
            `TP ${trn2.tensorParallelSize} = ${trn2.instance.devices} devices × ${trn2.instance.coresPerDevice} logical cores at LNC=2.`,
        ]
      : []),
    "GB = 10^9 bytes, GiB = 2^30 bytes.",
  ];
  return `${renderTable([header, ...rows])}\n\n${notes.join("\n")}`;
}
