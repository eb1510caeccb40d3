/**
 * `herd plan`: the capacity planner. With `--model`, the detailed plan for one model on one instance;
 * without, the guide's memory table for Scout and Maverick on the instance. `--list-instances` prints
 * the catalog with its sources. `--model` takes what `herd serve` takes (a GGUF file, a local artifact
 * folder) and checkpoints and Hub ids besides. A plan that does not fit is followed by what fits.
 * @module
 */
import { type Command, Option } from "commander";
import { open, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DEFAULT_HF_ENDPOINT, hubToken, looksLikeHubId } from "../../compile/hub.js";
import { MANIFEST_FILE } from "../../compile/manifest.js";
import { type EnvSource, getEnv, processEnv } from "../../config/env.js";
import { renderGuideTable, renderPlan, renderTable, renderWhatFits } from "../../planner/format.js";
import { findInstance, INSTANCE_CATALOG } from "../../planner/instances.js";
import { KNOWN_MODEL_IDS, knownModelSpec } from "../../planner/known-models.js";
import { type ModelSpec, ModelSpecError, specFromGguf, specFromHfConfig } from "../../planner/model-spec.js";
import { KV_BYTES_PER_ELEMENT, type KvDtype, WEIGHT_DTYPES, type WeightDtype } from "../../planner/params.js";
import { type Backend, BACKENDS, makePlan, type Plan, PlanError, type PlanInput, whatFits } from "../../planner/plan.js";

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

async function specFromGgufFile(path: string, id: string, size: number): Promise<ModelSpec> {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, {
    logWarnings: false,
    ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"],
  });
  return specFromGguf(info, size, id);
}

type Json = Record<string, unknown>;

/**
 * A config.json, or the `neuron_config.json` NxD Inference saves next to a compiled model (the model's
 * config attributes with a `neuron_config` beside them): one without `model_type` that has Llama 4's
 * `text_config` or experts is read as llama4.
 */
function specFromConfigJson(json: unknown, id: string): ModelSpec {
  const top = (typeof json === "object" && json !== null ? json : {}) as Json;
  const text = (typeof top["text_config"] === "object" && top["text_config"] !== null ? top["text_config"] : top) as Json;
  if (top["model_type"] === undefined && text["model_type"] === undefined && (top["text_config"] || text["num_local_experts"]))
    return specFromHfConfig({ ...top, model_type: "llama4" }, id);
  return specFromHfConfig(json, id);
}

async function readJson(path: string): Promise<unknown | null> {
  const text = await readFile(path, "utf8").catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ModelSpecError(`${path} is not valid JSON (${(err as Error).message})`);
  }
}

/**
 * A folder: a herd artifact (herd-manifest.json naming a GGUF: its header is read), a Neuron
 * artifact (manifest `kind: "neuron"`; config.json or neuron_config.json), or a Hugging Face
 * checkpoint (config.json). The manifest is read leniently (no hashes checked, unknown fields and
 * kinds tolerated): planning needs the shape, `herd serve` verifies.
 */
async function specFromFolder(dir: string, id: string): Promise<ModelSpec> {
  const manifest = (await readJson(join(dir, MANIFEST_FILE))) as Json | null;
  if (manifest && manifest["kind"] !== "neuron") {
    const files = Array.isArray(manifest["files"]) ? (manifest["files"] as Json[]) : [];
    const model = files.find((f) => f?.["role"] === "model" && typeof f["path"] === "string" && !String(f["path"]).includes(".."));
    if (model) {
      const path = join(dir, String(model["path"]));
      const st = await stat(path).catch(() => null);
      if (!st) throw new ModelSpecError(`--model ${id}: ${MANIFEST_FILE} names ${String(model["path"])}, which is missing`);
      return specFromGgufFile(path, id, st.size);
    }
  }
  for (const name of ["config.json", "neuron_config.json"]) {
    const json = await readJson(join(dir, name));
    if (json !== null) return specFromConfigJson(json, id);
  }
  const source = (manifest?.["source"] ?? {}) as Json;
  const known = typeof source["id"] === "string" ? knownModelSpec(source["id"]) : null;
  if (known) return known;
  throw new ModelSpecError(
    `--model ${id}: the folder has no ${MANIFEST_FILE} naming a GGUF, no config.json and no neuron_config.json ` +
      "(expected a herd artifact, a Neuron artifact or a Hugging Face checkpoint folder)",
  );
}

/** config.json of a Hub repository (main), with the user's token; a clear message offline. */
async function specFromHub(repo: string, env: EnvSource): Promise<ModelSpec> {
  const endpoint = (getEnv("HF_ENDPOINT", env) ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
  const token = await hubToken(undefined, env);
  const url = `${endpoint}/${repo}/resolve/main/config.json`;
  const offline =
    `herd plan needs ${repo}'s config.json: download it (or the checkpoint) and pass its folder or file, ` +
    `or plan a known model (${KNOWN_MODEL_IDS.join(", ")}, scout, maverick)`;
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new ModelSpecError(`--model ${repo}: cannot reach ${endpoint} (${(err as Error).message}); ${offline}`);
  }
  if (res.status === 401 || res.status === 403)
    throw new ModelSpecError(`--model ${repo}: HTTP ${res.status} from ${endpoint}: gated or private — set HF_TOKEN; ${offline}`);
  if (!res.ok) throw new ModelSpecError(`--model ${repo}: HTTP ${res.status} for ${url}; ${offline}`);
  return specFromConfigJson(await res.json(), repo);
}

/**
 * What `herd serve` accepts as a model, and more: a known Hub id (or `scout` / `maverick`, offline),
 * a GGUF file (its header only is read), a herd or Neuron artifact folder, a Hugging Face checkpoint
 * folder or config.json, or another Hub id (its config.json is fetched from HF_ENDPOINT with HF_TOKEN).
 */
export async function loadModelSpec(model: string, env: EnvSource = processEnv()): Promise<ModelSpec> {
  const known = knownModelSpec(model);
  if (known) return known;
  if (/^s3:\/\//.test(model))
    throw new ModelSpecError(`--model ${model}: herd plan reads local artifacts; fetch it first (herd artifacts pull ${model} DIR)`);
  const path = resolve(model);
  const st = await stat(path).catch(() => null);
  if (!st) {
    if (looksLikeHubId(model)) return specFromHub(model, env);
    throw new ModelSpecError(
      `--model ${model}: not a known id (${KNOWN_MODEL_IDS.join(", ")}, or scout/maverick), a Hub id, or a file or folder`,
    );
  }
  if (st.isDirectory()) return specFromFolder(path, model);
  if ((await readMagic(path)) !== "GGUF") {
    if (path.endsWith(".json")) return specFromConfigJson(await readJson(path), model);
    throw new ModelSpecError(`--model ${model}: not a GGUF file (no GGUF magic) and not a config.json`);
  }
  return specFromGgufFile(path, model, st.size);
}

export interface PlanOptions {
  model?: string;
  instance: string;
  backend?: Backend;
  dtype?: WeightDtype;
  kvDtype?: KvDtype;
  maxModelLen?: string;
  maxNumSeqs?: string;
  devices?: string;
  gpuMemoryUtilization?: string;
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

/** The planner's input the flags describe. */
export async function planInputFromOptions(opts: PlanOptions & { model: string }, env: EnvSource = processEnv()): Promise<PlanInput> {
  const model = await loadModelSpec(opts.model, env);
  const devices = intFlag("devices", opts.devices);
  const maxModelLen = intFlag("max-model-len", opts.maxModelLen);
  const maxNumSeqs = intFlag("max-num-seqs", opts.maxNumSeqs);
  const util = opts.gpuMemoryUtilization === undefined ? undefined : Number(opts.gpuMemoryUtilization);
  if (opts.backend !== undefined && !BACKENDS.includes(opts.backend))
    throw new PlanError(`unknown --backend ${opts.backend}; known: ${BACKENDS.join(", ")}`);
  return {
    model,
    instance: requireInstance(opts.instance),
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(opts.dtype ? { dtype: opts.dtype } : {}),
    ...(opts.kvDtype ? { kvDtype: opts.kvDtype } : {}),
    ...(maxModelLen !== undefined ? { maxModelLen } : {}),
    ...(maxNumSeqs !== undefined ? { maxNumSeqs } : {}),
    ...(devices !== undefined ? { devices } : {}),
    ...(util !== undefined ? { gpuMemoryUtilization: util } : {}),
  };
}

/** Builds the plan the flags describe (shared with `herd deploy`). */
export async function planFromOptions(opts: PlanOptions & { model: string }, env: EnvSource = processEnv()): Promise<Plan> {
  return makePlan(await planInputFromOptions(opts, env));
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

/**
 * Everything `herd plan` prints (tests call this); `ok` is false when the plan does not fit or does not
 * work, and then what fits instead follows (in `--json`: the plan's `whatFits`).
 */
export async function planCommand(opts: PlanOptions, env: EnvSource = processEnv()): Promise<{ text: string; ok: boolean }> {
  if (opts.listInstances) return { text: listInstances(), ok: true };
  if (!opts.model) {
    const instance = requireInstance(opts.instance);
    const plans = KNOWN_MODEL_IDS.map((id) =>
      makePlan({
        model: knownModelSpec(id)!,
        instance,
        ...(opts.backend ? { backend: opts.backend } : {}),
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
        maxNumSeqs: 1,
      }),
    );
    return { text: opts.json ? JSON.stringify(plans, null, 2) : renderGuideTable(plans), ok: true };
  }
  const plan = await planFromOptions({ ...opts, model: opts.model }, env);
  const ok = plan.fits && plan.problems.length === 0;
  const alternatives = ok ? null : whatFits(plan);
  if (opts.json) return { text: JSON.stringify(alternatives ? { ...plan, whatFits: alternatives } : plan, null, 2), ok };
  return { text: alternatives ? `${renderPlan(plan)}\n${renderWhatFits(plan, alternatives)}` : renderPlan(plan), ok };
}

export function register(program: Command): void {
  program
    .command("plan")
    .description("capacity plan: parameters, weight and KV memory, fit, devices and tensor parallelism for a model on an instance type")
    .option(
      "--model <id|dir|gguf>",
      "GGUF file, artifact folder (herd or Neuron), Hugging Face folder or config.json, Hub id (scout/maverick offline; " +
        "others: config.json from the Hub); without it: the guide's table for Scout and Maverick",
    )
    .option("--instance <type>", "EC2 instance type (see --list-instances)", "trn2.48xlarge")
    .addOption(
      new Option("--backend <name>", "serving backend (default: herd on NVIDIA and CPU, vllm-neuron on Neuron)").choices([...BACKENDS]),
    )
    .addOption(
      new Option(
        "--dtype <type>",
        "weight type (default: q8_0 for herd, as herd compile writes; bf16 for vLLM; GGUF files use their own)",
      ).choices([...WEIGHT_DTYPES]),
    )
    .addOption(new Option("--kv-dtype <type>", "KV-cache element type").choices(Object.keys(KV_BYTES_PER_ELEMENT)))
    .option("--max-model-len <n>", "tokens per sequence (default 16384, capped at the model's maximum)")
    .option("--max-num-seqs <n>", "concurrent sequences (default 1 on Neuron, 16 for herd and vllm)")
    .option("--devices <n>", "devices to request (default: whole node on Neuron, fewest that fit on GPUs)")
    .option("--gpu-memory-utilization <f>", "vllm backend: share of each GPU's memory vLLM takes (default 0.9)")
    .option("--json", "print the plan as JSON")
    .option("--list-instances", "print the instance catalog with sources")
    .action(async (opts: PlanOptions) => {
      const { text, ok } = await planCommand(opts);
      console.log(text);
      if (!ok) process.exitCode = 2;
    });
}
