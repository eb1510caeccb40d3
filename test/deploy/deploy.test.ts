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
import { helmPath, parseManifests, validateObject } from "./chart-helpers.js";
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

  it("Scout and Maverick on trn2 without --image: the guide's Neuron DLC, pinned, each image printed once", async () => {
    for (const model of ["scout", "maverick"]) {
      const r = await deployCommand({ model, instance: "trn2.48xlarge", release: model, dryRun: true }, env());
      const image = "public.ecr.aws/neuron/pytorch-inference-neuronx:2.5.1-neuronx-py310-sdk2.21.0-ubuntu22.04";
      expect(r.notes.split("\n").filter((l) => l.startsWith("# image "))).toEqual([`# image ${image} (server)`]);
      const objs = parseManifests(r.output);
      for (const o of objs) validateObject(o);
      expect(objs.find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0].image).toBe(image);
    }
    await expect(deployCommand(scoutTrn2({ dryRun: true, image: "my.registry/vllm-neuron" }), env())).rejects.toThrow(
      /--image my\.registry\/vllm-neuron has no tag: backend vllm-neuron needs one/,
    );
  });

  it("helm's render errors come back as herd's one line with the fix, helm's text kept for --verbose", async () => {
    const cases: [Partial<DeployOptions> & { model: string; instance: string }, RegExp][] = [
      [
        { model: "scout", instance: "p5.48xlarge" },
        /^image\.repository is the placeholder ghcr\.io\/OWNER\/herd, published nowhere: .* herd deploy --image <registry>\/herd:0\.1\.0$/,
      ],
      [
        { model: "scout", instance: "trn2.48xlarge", set: ["inference.devices=32"] },
        /^the chart's values are invalid: inference\.devices: Must be less than or equal to 16 \(fix the -f\/--set values/,
      ],
      [
        { model: "scout", instance: "trn2.48xlarge", set: ["image.tag="] },
        /^image\.tag is required for backend vllm-neuron: name the image with its tag, e\.g\. herd deploy --image public\.ecr\.aws/,
      ],
    ];
    for (const [opts, message] of cases) {
      const r = await deployCommand({ release: "r", dryRun: true, ...opts }, env());
      expect(r.ok).toBe(false);
      expect(r.output).toBe("");
      expect(r.failure!.message).toMatch(message);
      expect(r.failure!.message).not.toMatch(/\n|--debug|^Error/);
      expect(r.failure!.detail).toMatch(/^Error: /);
    }
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
      ).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
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
    ).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Service", "ServiceAccount", "ServiceMonitor"]);
    expect(r.notes).toContain(`# values written to ${out}`);
  });

  it("--s3-role-arn annotates the service account the server and the staging init container run as (IRSA)", async () => {
    const role = "arn:aws:iam::123456789012:role/herd-artifacts-read";
    const r = await deployCommand(scoutTrn2({ dryRun: true, s3RoleArn: role }), env());
    const objs = parseManifests(r.output);
    for (const o of objs) validateObject(o);
    const sa = objs.find((o) => o.kind === "ServiceAccount")!;
    expect(sa.metadata).toMatchObject({ name: "llama4-scout-herd", annotations: { "eks.amazonaws.com/role-arn": role } });
    const pod = objs.find((o) => o.kind === "Deployment")!.spec.template.spec;
    expect(pod.serviceAccountName).toBe("llama4-scout-herd");
    expect(pod.initContainers.map((c: { name: string }) => c.name)).toEqual(["stage-artifacts"]);
    await expect(deployCommand(scoutTrn2({ dryRun: true, s3RoleArn: "herd" }), env())).rejects.toThrow(
      /--s3-role-arn must be an IAM role ARN/,
    );
  });

  it("--backend vllm: the same p5 planned for vLLM, its pinned image; fp8 is vLLM's, q4_k_m herd's; no vllm off NVIDIA", async () => {
    const p5 = { model: "scout", instance: "p5.48xlarge", release: "scout-vllm", backend: "vllm", dryRun: true } as const;
    const r = await deployCommand({ ...p5, dtype: "fp8" }, env());
    expect(r.notes.split("\n").filter((l) => l.startsWith("# image "))).toEqual(["# image vllm/vllm-openai:v0.11.2 (server)"]);
    const objs = parseManifests(r.output);
    for (const o of objs) validateObject(o);
    const server = objs.find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0];
    expect(server.command).toEqual(["vllm", "serve"]);
    expect(server.args.slice(0, 1)).toEqual(["meta-llama/Llama-4-Scout-17B-16E-Instruct"]);
    expect(server.args[server.args.indexOf("--quantization") + 1]).toBe("fp8");
    // The plan's vLLM sizing: its TP and --gpu-memory-utilization reach vllm serve.
    const tight = parseManifests((await deployCommand({ ...p5, dtype: "fp8", gpuMemoryUtilization: "0.8", devices: "4" }, env())).output);
    const args: string[] = tight.find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0].args;
    expect([args[args.indexOf("--tensor-parallel-size") + 1], args[args.indexOf("--gpu-memory-utilization") + 1]]).toEqual(["4", "0.8"]);
    await expect(deployCommand({ ...p5, backend: "herd", dtype: "fp8" }, env())).rejects.toThrow(/fp8 is not a GGUF type/);
    await expect(deployCommand({ ...p5, dtype: "q4_k_m" }, env())).rejects.toThrow(
      /\(backend vllm, q4_k_m[\s\S]*problem: q4_k_m is a llama\.cpp format: vLLM serves bf16 or fp8/,
    );
    await expect(deployCommand({ ...p5, instance: "trn2.48xlarge" }, env())).rejects.toThrow(
      /--backend vllm does not run on trn2\.48xlarge, Trainium2 \(neuron\): use vllm-neuron/,
    );
  });

  it("refuses a plan that does not fit (Maverick bf16 on p5.48xlarge) unless --force", async () => {
    const opts: DeployOptions = { model: "maverick", instance: "p5.48xlarge", dtype: "bf16", release: "m", dryRun: true, image: "herd:1" };
    await expect(deployCommand(opts, env())).rejects.toThrow(/the plan does not fit; pick another --instance/);
    await expect(deployCommand(opts, env())).rejects.toThrow(/what fits instead:\n.*\n.*\n +q8_0 +herd .* fits .* --dtype q8_0/);
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
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "deploy",
        "--model",
        "scout",
        "--instance",
        "g6e.48xlarge",
        "--dtype",
        "q4_k_m",
        "--image",
        "ghcr.io/example/herd",
        "--dry-run",
      ],
      {
        cwd: ROOT,
        env: env(),
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no cluster, preflight skipped/);
    expect(r.stderr).toMatch(/^# image ghcr\.io\/example\/herd:0\.1\.0-cuda \(server\)$/m);
    const dep = parseManifests(r.stdout).find((o) => o.kind === "Deployment")!;
    expect(dep.spec.template.spec.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": "g6e.48xlarge" });
  });
});

describe("herd deploy (install)", () => {
  /** A helm whose `template` is the real one and whose `upgrade` records its arguments, then succeeds or fails like `fail`. */
  async function stubHelm(name: string, fail?: { stderr: string }): Promise<{ path: string; record: string }> {
    const record = join(dir, name);
    await mkdir(record);
    const path = join(record, "helm");
    const outcome = fail
      ? `cat >&2 <<'EOF'\n${fail.stderr}\nEOF\nexit 1\n`
      : `echo "Release \\"$3\\" has been upgraded."\necho "NOTES:"\necho "(the chart's notes)"\n`;
    await writeFile(
      path,
      `#!/bin/sh\nif [ "$1" = template ]; then exec "${helmPath()}" "$@"; fi\n` +
        `printf '%s\\n' "$@" > "${record}/args.txt"\nprev=""\n` +
        `for a in "$@"; do if [ "$prev" = "-f" ]; then cp "$a" "${record}/values.yaml"; fi; prev="$a"; done\n` +
        outcome,
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
      expect(r.notes).toMatch(/^# image public\.ecr\.aws\/neuron\/pytorch-inference-vllm-neuronx:test-tag \(server\)$/m);
      expect(r.notes).toMatch(/^# image public\.ecr\.aws\/aws-cli\/aws-cli:2\.36\.15 \(stage-artifacts\)$/m);
      expect(r.output).toMatch(/has been upgraded\.\nNOTES:/);
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

  it.each<[string, string, RegExp]>([
    [
      "an unreachable cluster",
      'Error: Kubernetes cluster unreachable: Get "https://ABCD.gr7.us-east-1.eks.amazonaws.com/version": ' +
        "dial tcp: lookup ABCD: no such host",
      /^cannot reach the cluster \(Get .*no such host\): check --kubeconfig\/--context \(aws eks update-kubeconfig --name CLUSTER/,
    ],
    [
      "a release stuck from an earlier run",
      "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
      /^release llama4-scout is stuck in a pending state from an earlier run: helm -n inference rollback llama4-scout/,
    ],
    [
      "no prometheus-operator CRDs",
      'Error: unable to build kubernetes objects from release manifest: resource mapping not found for name: "llama4-scout-herd" ' +
        'namespace: "inference" from "": no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"\n' +
        "ensure CRDs are installed first",
      /^the cluster has no ServiceMonitor CRD \(prometheus-operator\): install kube-prometheus-stack, or drop serviceMonitor\.enabled$/,
    ],
    [
      "missing RBAC",
      "Error: UPGRADE FAILED: failed to create resource: serviceaccounts is forbidden: " +
        'User "arn:aws:sts::123456789012:assumed-role/dev/alice" ' +
        'cannot create resource "serviceaccounts" in API group "" in the namespace "inference"',
      /^arn:aws:sts::123456789012:assumed-role\/dev\/alice may not create serviceaccounts in namespace inference: ask a cluster admin/,
    ],
    [
      "anything else",
      "Error: UPGRADE FAILED: something unforeseen\nUse --debug flag to render out invalid YAML",
      /^helm upgrade --install failed: UPGRADE FAILED: something unforeseen \(herd deploy --verbose shows helm's output\)$/,
    ],
  ])("an install that fails on %s says so in one line with the fix", async (name, stderr, message) => {
    const kube = await startFakeKube(trn2Cluster());
    const helm = await stubHelm(`install-fails-${name.replace(/\W+/g, "-")}`, { stderr });
    try {
      const kubeconfig = await writeKubeconfig(join(dir, `kc-${name.replace(/\W+/g, "-")}`), kube.url, { token: "test-token" });
      const r = await deployCommand(scoutTrn2({ kubeconfig, helm: helm.path }), env());
      expect(r.ok).toBe(false);
      expect(r.failure!.message).toMatch(message);
      expect(r.failure!.message).not.toContain("\n");
      expect(r.failure!.detail).toBe(stderr);
      expect(r.notes).toMatch(/^# image /m); // the images were named before helm touched the cluster
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
