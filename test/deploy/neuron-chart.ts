import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ChartValues, chartValuesFromPlan } from "../../src/planner/chart-values.js";
import { findInstance } from "../../src/planner/instances.js";
import { knownModelSpec } from "../../src/planner/known-models.js";
import { makePlan } from "../../src/planner/plan.js";
import { type K8sObject, parseManifests, template } from "./chart-helpers.js";
import { type RunResult, runProcess } from "../fixtures/process.js";

/** Scout on trn2.48xlarge (TP 64, max-model-len 16384 unless given), artifacts from `uri`, compile Job on. */
export function neuronValues(uri: string, opts: { maxModelLen?: number; endpoint?: string } = {}): ChartValues {
  const plan = makePlan({ model: knownModelSpec("scout")!, instance: findInstance("trn2.48xlarge")!, maxModelLen: opts.maxModelLen });
  const v = chartValuesFromPlan(plan, {
    artifacts: uri,
    image: { repository: "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx", tag: "test-tag" },
  });
  v.compileJob = { ...v.compileJob, enabled: true, outputUri: uri };
  if (opts.endpoint) v.artifacts.s3.endpoint = opts.endpoint;
  return v;
}

/** Values for the vllm (GPU) backend staging a Hugging Face checkpoint from `uri`. */
export function vllmCheckpointValues(uri: string, endpoint: string): ChartValues {
  const plan = makePlan({ model: knownModelSpec("scout")!, instance: findInstance("p5.48xlarge")!, backend: "vllm" });
  const v = chartValuesFromPlan(plan, { artifacts: uri });
  v.artifacts.s3.endpoint = endpoint;
  return v;
}

/** The staging init container and the scripts ConfigMap of a render without a compile Job. */
export async function renderStaging(values: ChartValues): Promise<{ stage: Container; scripts: Record<string, string> }> {
  const r = await template([values]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const objects = parseManifests(r.stdout);
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-artifact-scripts"));
  const pod = objects.find((o) => o.kind === "Deployment")!.spec.template.spec;
  return {
    stage: (pod.initContainers as Container[]).find((c) => c.name === "stage-artifacts")!,
    scripts: ((cm as unknown as { data?: Record<string, string> })?.data ?? {}) as Record<string, string>,
  };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
}

export interface RenderedNeuronChart {
  readonly objects: K8sObject[];
  /** The ConfigMap's files (neuron-artifacts.sh, neuron-manifest.py). */
  readonly scripts: Record<string, string>;
  readonly stage: Container;
  readonly server: Container;
  readonly compile: Container;
  readonly push: Container;
}

export async function renderNeuronChart(values: ChartValues): Promise<RenderedNeuronChart> {
  const r = await template([values]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const objects = parseManifests(r.stdout);
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-artifact-scripts"));
  const dep = objects.find((o) => o.kind === "Deployment")!;
  const job = objects.find((o) => o.kind === "Job")!;
  const pod = dep.spec.template.spec;
  const jpod = job.spec.template.spec;
  const named = (list: Container[] | undefined, name: string) => list?.find((c) => c.name === name) as Container;
  return {
    objects,
    scripts: ((cm as unknown as { data?: Record<string, string> })?.data ?? {}) as Record<string, string>,
    stage: named(pod.initContainers, "stage-artifacts"),
    server: named(pod.containers, "server"),
    compile: named(jpod.initContainers, "compile"),
    push: named(jpod.containers, "push"),
  };
}

/** Writes the rendered scripts into `dir` (what the pod mounts at /herd/scripts). */
export async function writeScripts(chart: RenderedNeuronChart, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(chart.scripts)) await writeFile(join(dir, name), text);
}

export type { RunResult };

/**
 * Runs `container`'s command and args with in-pod paths replaced by `paths` (longest first), its
 * literal env plus `env`. `replaceArgs` swaps whole arguments (e.g. the vLLM entry point for `echo`).
 */
export function runContainer(
  container: Container,
  paths: Record<string, string>,
  env: Record<string, string | undefined>,
  replaceArgs: (argv: string[]) => string[] = (a) => a,
): Promise<RunResult> {
  const mapPath = (s: string) => {
    for (const [from, to] of Object.entries(paths).sort((a, b) => b[0].length - a[0].length))
      if (s === from || s.startsWith(`${from}/`)) return to + s.slice(from.length);
    return s;
  };
  const argv = replaceArgs([...(container.command ?? []), ...(container.args ?? [])].map(mapPath));
  const podEnv = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, mapPath(e.value!)]));
  return runProcess(argv, { env: { ...podEnv, ...env } });
}
