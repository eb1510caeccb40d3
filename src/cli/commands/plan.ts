/**
 * `herd plan`: the capacity planner. With `--model`, the detailed plan for one model on one instance;
 * without, the guide's memory table for Scout and Maverick on the instance. `--list-instances` prints
 * the catalog with its sources.
 * @module
 */
import { type Command, Option } from "commander";
import { open, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { renderGuideTable, renderPlan, renderTable } from "../../planner/format.js";
import { findInstance, INSTANCE_CATALOG } from "../../planner/instances.js";
import { KNOWN_MODEL_IDS, knownModelSpec } from "../../planner/known-models.js";
import { type ModelSpec, ModelSpecError, specFromGguf, specFromHfConfig } from "../../planner/model-spec.js";
import { KV_BYTES_PER_ELEMENT, type KvDtype, WEIGHT_DTYPES, type WeightDtype } from "../../planner/params.js";
import { instancesThatFit, makePlan, type Plan, PlanError } from "../../planner/plan.js";

async function readMagic(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead).toString("latin1");
  } finally {
    await fh.close();
  }
}

/**
 * A known Hub id (or `scout` / `maverick`), a local Hugging Face directory with `config.json`, or a
 * GGUF file (its header only is read).
 */
export async function loadModelSpec(model: string): Promise<ModelSpec> {
  const known = knownModelSpec(model);
  if (known) return known;
  const path = resolve(model);
  const st = await stat(path).catch(() => null);
  if (!st) {
    throw new ModelSpecError(
      `--model ${model}: not a known id (${KNOWN_MODEL_IDS.join(", ")}, or scout/maverick), and no such file or directory`,
    );
  }
  if (st.isDirectory()) {
    const text = await readFile(join(path, "config.json"), "utf8").catch(() => null);
    if (text === null)
      throw new ModelSpecError(`--model ${model}: directory has no config.json (expected a Hugging Face checkpoint directory)`);
    return specFromHfConfig(JSON.parse(text), model);
  }
  if ((await readMagic(path)) !== "GGUF") {
    if (path.endsWith(".json")) return specFromHfConfig(JSON.parse(await readFile(path, "utf8")), model);
    throw new ModelSpecError(`--model ${model}: not a GGUF file (no GGUF magic) and not a config.json`);
  }
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, {
    logWarnings: false,
    ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"],
  });
  return specFromGguf(info, st.size, model);
}

export interface PlanOptions {
  model?: string;
  instance: string;
  dtype?: WeightDtype;
  kvDtype?: KvDtype;
  maxModelLen?: string;
  maxNumSeqs?: string;
  devices?: string;
  json?: boolean;
  listInstances?: boolean;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new PlanError(`--${name} must be a positive integer (got ${JSON.stringify(v)})`);
  return Number(v);
}

function requireInstance(name: string) {
  const instance = findInstance(name);
  if (!instance) throw new PlanError(`unknown --instance ${name}; known: ${INSTANCE_CATALOG.map((i) => i.name).join(", ")}`);
  return instance;
}

/** Builds the plan the flags describe (shared with `herd deploy`). */
export async function planFromOptions(opts: PlanOptions & { model: string }): Promise<Plan> {
  const model = await loadModelSpec(opts.model);
  const devices = intFlag("devices", opts.devices);
  const maxModelLen = intFlag("max-model-len", opts.maxModelLen);
  const maxNumSeqs = intFlag("max-num-seqs", opts.maxNumSeqs);
  return makePlan({
    model,
    instance: requireInstance(opts.instance),
    ...(opts.dtype ? { dtype: opts.dtype } : {}),
    ...(opts.kvDtype ? { kvDtype: opts.kvDtype } : {}),
    ...(maxModelLen !== undefined ? { maxModelLen } : {}),
    ...(maxNumSeqs !== undefined ? { maxNumSeqs } : {}),
    ...(devices !== undefined ? { devices } : {}),
  });
}

function listInstances(): string {
  const rows = [["Instance", "Accelerator", "Devices", "TP cores", "Memory/device", "vCPUs", "Node memory", "Source"]];
  for (const i of INSTANCE_CATALOG) {
    rows.push([
      i.name,
      i.deviceName || `CPU (${i.arch})`,
      String(i.devices),
      String(i.devices * i.coresPerDevice),
      i.devices ? `${(i.memoryPerDeviceBytes / 1e9).toFixed(1)} GB` : "-",
      String(i.vcpus),
      `${(i.nodeMemoryBytes / 2 ** 30).toFixed(0)} GiB`,
      i.sources[0]!,
    ]);
  }
  return renderTable(rows);
}

/** Everything `herd plan` prints (tests call this); `ok` is false when the plan does not fit. */
export async function planCommand(opts: PlanOptions): Promise<{ text: string; ok: boolean }> {
  if (opts.listInstances) return { text: listInstances(), ok: true };
  if (!opts.model) {
    const plans = KNOWN_MODEL_IDS.map((id) =>
      makePlan({ model: knownModelSpec(id)!, instance: requireInstance(opts.instance), dtype: opts.dtype ?? "bf16", maxNumSeqs: 1 }),
    );
    return { text: opts.json ? JSON.stringify(plans, null, 2) : renderGuideTable(plans), ok: true };
  }
  const plan = await planFromOptions({ ...opts, model: opts.model });
  const ok = plan.fits && plan.problems.length === 0;
  if (opts.json) return { text: JSON.stringify(plan, null, 2), ok };
  let out = renderPlan(plan);
  if (!ok) {
    const alt = instancesThatFit(
      { model: plan.model, dtype: opts.dtype ?? "bf16", maxModelLen: plan.maxModelLen, maxNumSeqs: plan.maxNumSeqs, kvDtype: plan.kvDtype },
      INSTANCE_CATALOG,
    );
    out +=
      `\n  fits instead on: ` +
      `${alt.length ? alt.map((p) => p.instance.name).join(", ") : "no instance in the catalog at this dtype/context/batch"}`;
  }
  return { text: out, ok };
}

export function register(program: Command): void {
  program
    .command("plan")
    .description("capacity plan: parameters, weight and KV memory, fit, devices and tensor parallelism for a model on an instance type")
    .option(
      "--model <id|dir|gguf>",
      "known Hub id (or scout/maverick), Hugging Face directory with config.json, or GGUF file; " +
        "without it: the guide's table for Scout and Maverick",
    )
    .option("--instance <type>", "EC2 instance type (see --list-instances)", "trn2.48xlarge")
    .addOption(new Option("--dtype <type>", "weight type (GGUF files use their own)").choices([...WEIGHT_DTYPES]))
    .addOption(new Option("--kv-dtype <type>", "KV-cache element type").choices(Object.keys(KV_BYTES_PER_ELEMENT)))
    .option("--max-model-len <n>", "tokens per sequence (default 16384, capped at the model's maximum)")
    .option("--max-num-seqs <n>", "concurrent sequences (default 1 on Neuron, 16 for herd)")
    .option("--devices <n>", "devices to request (default: whole node on Neuron, fewest that fit on GPUs)")
    .option("--json", "print the plan as JSON")
    .option("--list-instances", "print the instance catalog with sources")
    .action(async (opts: PlanOptions) => {
      const { text, ok } = await planCommand(opts);
      console.log(text);
      if (!ok) process.exitCode = 2;
    });
}
