import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { deployCommand, type DeployOptions } from "../../src/cli/commands/deploy.js";
import { chartDir } from "../../src/cli/helm.js";
import { chartValuesSchema } from "../../src/planner/chart-values.js";
import { parseManifests, validateObject } from "./chart-helpers.js";
import { daemonSet, startFakeKube, trn2Cluster, writeKubeconfig } from "./fake-kube.js";

const ROOT = resolve(import.meta.dirname, "../..");
let dir: string;
const env = () => ({ HOME: join(dir, "home"), PATH: join(dir, "bin") });
const scoutTrn2 = (extra: Partial<DeployOptions> = {}): DeployOptions => ({
  model: "meta-llama/Llama-4-Scout-17B-16E-Instruct",
  instance: "trn2.48xlarge",
  release: "llama4-scout",
  namespace: "inference",
  image: "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:test-tag",
  artifacts: "s3://models/llama4/scout",
  ...extra,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-deploy-test-"));
  await mkdir(join(dir, "bin"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("herd deploy --dry-run", () => {
  it("prints valid manifests with the planned devices and TP, without a cluster", async () => {
    const r = await deployCommand(scoutTrn2({ dryRun: true }), env());
    expect(r.ok).toBe(true);
    expect(r.notes).toMatch(/^# no cluster, preflight skipped: no kubeconfig/);
    const objs = parseManifests(r.output);
    for (const o of objs) validateObject(o);
    const dep = objs.find((o) => o.kind === "Deployment")!;
    const server = dep.spec.template.spec.containers[0];
    expect(server.resources.limits["aws.amazon.com/neuron"]).toBe(16);
    expect(server.args).toContain("64");
    expect(dep.metadata).toMatchObject({ name: "llama4-scout-herd", namespace: "inference" });
  });

  it("runs the preflight against a reachable cluster and applies nothing", async () => {
    const kube = await startFakeKube(trn2Cluster());
    try {
      const kubeconfig = await writeKubeconfig(join(dir, "kc-dry"), kube.url, { token: "test-token" });
      const r = await deployCommand(scoutTrn2({ dryRun: true, kubeconfig }), env());
      expect(r.ok).toBe(true);
      expect(r.notes).toMatch(/^# preflight: ok +devices +node ip-10-0-2-2: aws\.amazon\.com\/neuron = 16 allocatable/m);
      expect(
        parseManifests(r.output)
          .map((o) => o.kind)
          .sort(),
      ).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]);
      expect(kube.requests.every((q) => q.startsWith("GET "))).toBe(true);
    } finally {
      await kube.close();
    }
  });

  it("--values writes the computed values, which the schema accepts; -f and --set layer on top", async () => {
    const out = join(dir, "scout-values.yaml");
    const extra = join(dir, "extra.yaml");
    await writeFile(extra, "serviceMonitor:\n  enabled: true\n");
    const r = await deployCommand(scoutTrn2({ dryRun: true, values: out, valuesFile: [extra], set: ["autoscaling.enabled=true"] }), env());
    const values = parseYaml(await readFile(out, "utf8"));
    const validate = new Ajv({ strict: false }).compile(chartValuesSchema());
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true);
    expect(values).toMatchObject({
      backend: "vllm-neuron",
      modelParameters: { tensorParallelSize: 64, maxModelLen: 16384, maxNumSeqs: 1 },
      inference: { devices: 16 },
    });
    expect(
      parseManifests(r.output)
        .map((o) => o.kind)
        .sort(),
    ).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Service", "ServiceMonitor"]);
    expect(r.notes).toContain(`# values written to ${out}`);
  });

  it("refuses a plan that does not fit (Maverick bf16 on p5.48xlarge) unless --force", async () => {
    const opts: DeployOptions = { model: "maverick", instance: "p5.48xlarge", release: "m", dryRun: true, image: "herd:1" };
    await expect(deployCommand(opts, env())).rejects.toThrow(/the plan does not fit; pick another --instance/);
    const forced = await deployCommand({ ...opts, force: true }, env());
    expect(forced.notes).toMatch(/--force: deploying a plan that does not fit/);
    expect(
      parseManifests(forced.output).find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0].resources.limits[
        "nvidia.com/gpu"
      ],
    ).toBe(8);
  });

  it("the CLI prints manifests on stdout and notes on stderr", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "deploy", "--model", "scout", "--instance", "g6e.48xlarge", "--dtype", "q4_k_m", "--dry-run"],
      {
        cwd: ROOT,
        env: env(),
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no cluster, preflight skipped/);
    const dep = parseManifests(r.stdout).find((o) => o.kind === "Deployment")!;
    expect(dep.spec.template.spec.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": "g6e.48xlarge" });
  });
});

describe("herd deploy (install)", () => {
  async function stubHelm(name: string): Promise<{ path: string; record: string }> {
    const record = join(dir, name);
    await mkdir(record);
    const path = join(record, "helm");
    await writeFile(
      path,
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${record}/args.txt"\nprev=""\n` +
        `for a in "$@"; do if [ "$prev" = "-f" ]; then cp "$a" "${record}/values.yaml"; fi; prev="$a"; done\n` +
        `echo "Release \\"$3\\" has been upgraded."\n`,
    );
    await chmod(path, 0o755);
    return { path, record };
  }

  it("runs helm upgrade --install with the planned values after a passing preflight", async () => {
    const kube = await startFakeKube(trn2Cluster());
    const helm = await stubHelm("install-ok");
    try {
      const kubeconfig = await writeKubeconfig(join(dir, "kc-install"), kube.url, { token: "test-token" });
      const r = await deployCommand(scoutTrn2({ kubeconfig, context: "test", helm: helm.path }), env());
      expect(r.ok, r.notes).toBe(true);
      const args = (await readFile(join(helm.record, "args.txt"), "utf8")).trim().split("\n");
      expect(args.slice(0, 5)).toEqual(["upgrade", "--install", "llama4-scout", chartDir(), "--create-namespace"]);
      expect(args.slice(5, 8)).toEqual(["--namespace", "inference", "-f"]);
      expect(args.slice(9)).toEqual(["--kubeconfig", kubeconfig, "--kube-context", "test"]);
      const values = parseYaml(await readFile(join(helm.record, "values.yaml"), "utf8"));
      expect(values).toMatchObject({
        inference: { instanceType: "trn2.48xlarge", devices: 16 },
        nodeSelector: { "node.kubernetes.io/instance-type": "trn2.48xlarge" },
      });
    } finally {
      await kube.close();
    }
  });

  it("does not install when the preflight fails (no device plugin)", async () => {
    const cluster = trn2Cluster();
    cluster.daemonSets = [daemonSet("kube-system", "aws-node", 2)];
    const kube = await startFakeKube(cluster);
    const helm = await stubHelm("install-blocked");
    try {
      const kubeconfig = await writeKubeconfig(join(dir, "kc-blocked"), kube.url, { token: "test-token" });
      const r = await deployCommand(scoutTrn2({ kubeconfig, helm: helm.path }), env());
      expect(r.ok).toBe(false);
      expect(r.notes).toMatch(/# preflight: FAIL +device plugin +no aws\.amazon\.com\/neuron device plugin/);
      expect(r.notes).toMatch(/preflight failed: not installing/);
      await expect(readFile(join(helm.record, "args.txt"))).rejects.toThrow();
    } finally {
      await kube.close();
    }
  });
});
