/**
 * Values for the Helm chart in `deploy/helm/herd`, and the chart's `values.schema.json`, both from
 * the planner: device counts, tensor parallelism, node selector and tolerations come from the plan
 * and the instance catalog — the templates never derive them.
 *
 * The schema is strict (`additionalProperties: false` on every object of ours) and ties each
 * instance type to its accelerator, device count range, tensor-parallel degree per device count and
 * node selector, so the guide chart's mistakes (`neuron: 32` on a 16-device trn2.48xlarge, TP as
 * devices × 2, a `nodeSelector` nested where no template reads it) fail `helm install`.
 * @module
 */
import { type Accelerator, deviceResource, INSTANCE_CATALOG, type InstanceType } from "./instances.js";
import type { Backend, Plan } from "./plan.js";

export const INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type";

export type ArtifactSource = "none" | "s3" | "pvc";

export interface ChartValues {
  backend: Backend;
  model: string;
  modelPath: string;
  /** tensorParallelSize 0 = not used (herd). */
  modelParameters: { maxModelLen: number; maxNumSeqs: number; tensorParallelSize: number };
  /** logicalNeuronCoreConfig 0 = not Neuron. Helm drops null values, so "none" is 0 throughout. */
  inference: { accelerator: Accelerator; instanceType: string; devices: number; logicalNeuronCoreConfig: number };
  replicaCount: number;
  image: { repository: string; tag: string; pullPolicy: "Always" | "IfNotPresent" | "Never" };
  herdImage: { repository: string; tag: string };
  imagePullSecrets: { name: string }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  nodeSelector: Record<string, string>;
  tolerations: Record<string, unknown>[];
  affinity: Record<string, unknown>;
  schedulerName: string;
  priorityClassName: string;
  serviceAccountName: string;
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  podSecurityContext: Record<string, unknown>;
  securityContext: Record<string, unknown>;
  env: Record<string, string>;
  extraArgs: string[];
  hfToken: { secretName: string; key: string; optional: boolean };
  apiKey: { secretName: string; key: string };
  artifacts: {
    source: ArtifactSource;
    mountPath: string;
    /** vllm-neuron: the public AWS CLI image that stages and publishes Neuron artifacts (no herd image needed). */
    stagingImage: { repository: string; tag: string };
    s3: { uri: string; region: string; endpoint: string; credentialsSecret: string };
    pvc: { claimName: string; subPath: string };
    emptyDir: { sizeLimit: string };
  };
  shm: { sizeLimit: string };
  probes: Record<"startup" | "readiness" | "liveness", { periodSeconds: number; failureThreshold: number; timeoutSeconds: number }>;
  terminationGracePeriodSeconds: number;
  service: { type: "ClusterIP" | "NodePort" | "LoadBalancer"; port: number; annotations: Record<string, string> };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number };
  serviceMonitor: { enabled: boolean; interval: string; scrapeTimeout: string; labels: Record<string, string> };
  autoscaling: {
    enabled: boolean;
    minReplicaCount: number;
    maxReplicaCount: number;
    pollingInterval: number;
    cooldownPeriod: number;
    prometheusServerAddress: string;
    threshold: number;
  };
  compileJob: { enabled: boolean; outputUri: string; activeDeadlineSeconds: number; args: string[] };
}

export interface ValuesOptions {
  /** Image of the serving container; default per backend. */
  readonly image?: { repository: string; tag: string };
  readonly herdImage?: { repository: string; tag: string };
  /** `s3://bucket/prefix` to stage (`herd artifacts pull`; on vllm-neuron an AWS CLI script), or `pvc:CLAIM[/subpath]` to mount. */
  readonly artifacts?: string;
  /** Path the server loads; default: the artifacts mount (herd) or the model id (vLLM). */
  readonly modelPath?: string;
  /** Minutes the startup probe allows; default 20 (herd), 90 (Neuron: 30–60 min compile/load, guide). */
  readonly startupMinutes?: number;
}

const GiB = 2 ** 30;
const DEFAULT_HERD_IMAGE = { repository: "herd", tag: "" };
/** The Neuron vLLM DLC; pick a tag from the Neuron DLC release notes (the chart refuses an empty one). */
const DEFAULT_VLLM_NEURON_IMAGE = { repository: "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx", tag: "" };
/** Stages and publishes Neuron artifacts on vllm-neuron (sh, sha256sum, aws s3); pinned. */
export const AWS_CLI_IMAGE = { repository: "public.ecr.aws/aws-cli/aws-cli", tag: "2.36.15" } as const;

function tolerationsFor(i: InstanceType): Record<string, unknown>[] {
  const r = deviceResource(i);
  return r ? [{ key: r, operator: "Exists", effect: "NoSchedule" }] : [];
}

function parseArtifacts(spec: string | undefined): ChartValues["artifacts"] {
  const base: ChartValues["artifacts"] = {
    source: "none",
    mountPath: "/artifacts",
    stagingImage: { ...AWS_CLI_IMAGE },
    s3: { uri: "", region: "", endpoint: "", credentialsSecret: "" },
    pvc: { claimName: "", subPath: "" },
    emptyDir: { sizeLimit: "1Ti" },
  };
  if (!spec) return base;
  if (spec.startsWith("s3://")) return { ...base, source: "s3", s3: { ...base.s3, uri: spec } };
  const m = /^pvc:([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\/(.+))?$/.exec(spec);
  if (m) return { ...base, source: "pvc", pvc: { claimName: m[1]!, subPath: m[3] ?? "" } };
  throw new Error(`--artifacts must be s3://bucket/prefix or pvc:CLAIM[/subpath] (got ${JSON.stringify(spec)})`);
}

const gi = (bytes: number) => `${Math.ceil(bytes / GiB)}Gi`;

/** The chart values for a plan; the caller may overlay more values files on top. */
export function chartValuesFromPlan(plan: Plan, opts: ValuesOptions = {}): ChartValues {
  const i = plan.instance;
  const neuron = plan.backend === "vllm-neuron";
  const artifacts = parseArtifacts(opts.artifacts);
  const startupMinutes = opts.startupMinutes ?? (neuron ? 90 : 20);
  const period = 10;
  const cpuRequest = Math.max(1, Math.floor(i.vcpus * 0.8));
  const image = opts.image ?? (neuron ? DEFAULT_VLLM_NEURON_IMAGE : DEFAULT_HERD_IMAGE);
  return {
    backend: plan.backend,
    model: plan.model.id,
    modelPath: opts.modelPath ?? "",
    modelParameters: { maxModelLen: plan.maxModelLen, maxNumSeqs: plan.maxNumSeqs, tensorParallelSize: plan.tensorParallelSize ?? 0 },
    inference: {
      accelerator: i.accelerator,
      instanceType: i.name,
      devices: plan.devices,
      logicalNeuronCoreConfig: i.logicalNeuronCoreConfig ?? 0,
    },
    replicaCount: 1,
    image: { ...image, pullPolicy: "IfNotPresent" },
    herdImage: opts.herdImage ?? (neuron ? DEFAULT_HERD_IMAGE : { repository: image.repository, tag: image.tag }),
    imagePullSecrets: [],
    resources: { requests: { cpu: String(cpuRequest), memory: gi(plan.podMemoryBytes) }, limits: { memory: gi(plan.podMemoryBytes) } },
    nodeSelector: { [INSTANCE_TYPE_LABEL]: i.name },
    tolerations: tolerationsFor(i),
    affinity: {},
    schedulerName: "",
    priorityClassName: "",
    serviceAccountName: "",
    podAnnotations: {},
    podLabels: {},
    podSecurityContext: {},
    securityContext: {},
    env: {},
    extraArgs: [],
    hfToken: { secretName: "hf-token", key: "token", optional: true },
    apiKey: { secretName: "", key: "api-key" },
    artifacts,
    shm: { sizeLimit: neuron ? "64Gi" : "2Gi" },
    probes: {
      startup: { periodSeconds: period, failureThreshold: Math.ceil((startupMinutes * 60) / period), timeoutSeconds: 5 },
      readiness: { periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 5 },
      liveness: { periodSeconds: 30, failureThreshold: 5, timeoutSeconds: 10 },
    },
    terminationGracePeriodSeconds: 60,
    service: { type: "ClusterIP", port: 8000, annotations: {} },
    podDisruptionBudget: { enabled: true, maxUnavailable: 0 },
    serviceMonitor: { enabled: false, interval: "30s", scrapeTimeout: "10s", labels: {} },
    autoscaling: {
      enabled: false,
      minReplicaCount: 1,
      maxReplicaCount: 2,
      pollingInterval: 30,
      cooldownPeriod: 1800,
      prometheusServerAddress: "http://prometheus-operated.monitoring.svc:9090",
      threshold: 5,
    },
    compileJob: { enabled: false, outputUri: "", activeDeadlineSeconds: 4 * 3600, args: [] },
  };
}

// ---------------------------------------------------------------------------------------------
// values.schema.json

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: "string", ...extra });
const int = (extra: Schema = {}): Schema => ({ type: "integer", ...extra });
const strMap: Schema = { type: "object", additionalProperties: { type: "string" } };
const anyObj: Schema = { type: "object" };
/** A strict object: every listed property required, nothing else allowed. */
function obj(properties: Record<string, Schema>, extra: Schema = {}): Schema {
  return { type: "object", additionalProperties: false, required: Object.keys(properties), properties, ...extra };
}
/** `{ if, then }` (JSON Schema draft-07). */
function ifThen(condition: Schema, consequence: Schema): Schema {
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable.
  return { if: condition, then: consequence };
}
const quantity: Schema = { type: ["string", "integer"], pattern: "^[0-9]+(\\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$" };
const probe = obj({ periodSeconds: int({ minimum: 1 }), failureThreshold: int({ minimum: 1 }), timeoutSeconds: int({ minimum: 1 }) });

/** One `if instanceType == X then …` block per catalog entry. */
function instanceRule(i: InstanceType): Schema {
  const inference: Schema = {
    properties: {
      accelerator: { const: i.accelerator },
      devices: i.accelerator === "cpu" ? { const: 0 } : { minimum: 1, maximum: i.devices },
      logicalNeuronCoreConfig: { const: i.logicalNeuronCoreConfig ?? 0 },
    },
  };
  const consequence: Schema = {
    properties: {
      inference,
      nodeSelector: { required: [INSTANCE_TYPE_LABEL], properties: { [INSTANCE_TYPE_LABEL]: { const: i.name } } },
    },
  };
  if (i.accelerator === "neuron") {
    // TP = devices × logical cores per device, enumerated (no arithmetic in templates or schema).
    consequence["allOf"] = Array.from({ length: i.devices }, (_, k) =>
      ifThen(
        { properties: { inference: { properties: { devices: { const: k + 1 } } } } },
        { properties: { modelParameters: { properties: { tensorParallelSize: { const: (k + 1) * i.coresPerDevice } } } } },
      ),
    );
  }
  return ifThen({ properties: { inference: { properties: { instanceType: { const: i.name } } } } }, consequence);
}

export function chartValuesSchema(catalog: readonly InstanceType[] = INSTANCE_CATALOG): Schema {
  const deviceResources = ["aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice", "nvidia.com/gpu"];
  const resourceMap: Schema = { type: "object", propertyNames: { not: { enum: deviceResources } }, additionalProperties: quantity };
  const image = (tag: Schema) => ({ repository: str({ minLength: 1 }), tag });
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "herd chart values (generated from src/planner/chart-values.ts; do not edit by hand)",
    ...obj({
      backend: {
        enum: ["herd", "vllm-neuron"],
        description: "herd: this server (CPU or NVIDIA); vllm-neuron: vLLM on Trainium/Inferentia",
      },
      model: str({ minLength: 1, description: "model id served to clients (Hub id for vLLM)" }),
      modelPath: str({ description: "path the server loads; empty: the artifacts mount (herd) or the model id (vLLM)" }),
      modelParameters: obj({
        maxModelLen: int({ minimum: 16 }),
        maxNumSeqs: int({ minimum: 1 }),
        tensorParallelSize: int({ minimum: 0, description: "from `herd plan` (devices × cores per device); 0 for herd" }),
      }),
      inference: obj({
        accelerator: { enum: ["neuron", "nvidia", "cpu"] },
        instanceType: {
          enum: catalog.map((i) => i.name),
          description: "an instance type from the planner's catalog (`herd plan --list-instances`)",
        },
        devices: int({ minimum: 0, description: "devices to request (aws.amazon.com/neuron or nvidia.com/gpu), from `herd plan`" }),
        logicalNeuronCoreConfig: { type: "integer", enum: [0, 1, 2], description: "NEURON_LOGICAL_NC_CONFIG; 0 off Neuron" },
      }),
      replicaCount: int({ minimum: 0 }),
      image: obj({ ...image(str()), pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] } }),
      herdImage: obj(image(str())),
      imagePullSecrets: { type: "array", items: obj({ name: str({ minLength: 1 }) }) },
      resources: obj(
        { requests: resourceMap, limits: resourceMap },
        { description: "cpu/memory only: device counts come from inference.devices" },
      ),
      nodeSelector: { ...strMap, required: [INSTANCE_TYPE_LABEL] },
      tolerations: { type: "array", items: anyObj },
      affinity: anyObj,
      schedulerName: str({ description: "empty: the default scheduler (the Neuron scheduler extension is opt-in)" }),
      priorityClassName: str(),
      serviceAccountName: str(),
      podAnnotations: strMap,
      podLabels: strMap,
      podSecurityContext: anyObj,
      securityContext: anyObj,
      env: { ...strMap, description: "extra environment variables (string values only)" },
      extraArgs: { type: "array", items: str() },
      hfToken: obj({ secretName: str(), key: str({ minLength: 1 }), optional: { type: "boolean" } }),
      apiKey: obj({ secretName: str(), key: str({ minLength: 1 }) }),
      artifacts: obj({
        source: { enum: ["none", "s3", "pvc"] },
        mountPath: str({ pattern: "^/" }),
        stagingImage: obj(image(str({ minLength: 1 })), {
          description: "vllm-neuron: the AWS CLI image that stages and publishes Neuron artifacts (needs sh, sha256sum, aws)",
        }),
        s3: obj({ uri: { type: "string", pattern: "^(s3://.+)?$" }, region: str(), endpoint: str(), credentialsSecret: str() }),
        pvc: obj({ claimName: str(), subPath: str() }),
        emptyDir: obj({ sizeLimit: quantity }),
      }),
      shm: obj({ sizeLimit: quantity }),
      probes: obj({ startup: probe, readiness: probe, liveness: probe }),
      terminationGracePeriodSeconds: int({ minimum: 0 }),
      service: obj({
        type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] },
        port: int({ minimum: 1, maximum: 65535 }),
        annotations: strMap,
      }),
      podDisruptionBudget: obj({ enabled: { type: "boolean" }, maxUnavailable: int({ minimum: 0 }) }),
      serviceMonitor: obj({ enabled: { type: "boolean" }, interval: str(), scrapeTimeout: str(), labels: strMap }),
      autoscaling: obj({
        enabled: { type: "boolean" },
        minReplicaCount: int({ minimum: 0 }),
        maxReplicaCount: int({ minimum: 1 }),
        pollingInterval: int({ minimum: 1 }),
        cooldownPeriod: int({ minimum: 0 }),
        prometheusServerAddress: str({ minLength: 1 }),
        threshold: { type: "number", exclusiveMinimum: 0 },
      }),
      compileJob: obj({
        enabled: { type: "boolean" },
        outputUri: { type: "string", pattern: "^(s3://.+)?$" },
        activeDeadlineSeconds: int({ minimum: 60 }),
        args: { type: "array", items: str() },
      }),
    }),
    allOf: [
      // backend ⇔ accelerator
      ifThen(
        { properties: { backend: { const: "vllm-neuron" } } },
        {
          properties: {
            inference: { properties: { accelerator: { const: "neuron" } } },
            modelParameters: { properties: { tensorParallelSize: { minimum: 1 } } },
          },
        },
      ),
      ifThen(
        { properties: { backend: { const: "herd" } } },
        {
          properties: {
            inference: { properties: { accelerator: { enum: ["nvidia", "cpu"] } } },
            modelParameters: { properties: { tensorParallelSize: { const: 0 } } },
          },
        },
      ),
      ifThen(
        { properties: { artifacts: { properties: { source: { const: "s3" } } } } },
        { properties: { artifacts: { properties: { s3: { properties: { uri: { minLength: 6 } } } } } } },
      ),
      ifThen(
        { properties: { artifacts: { properties: { source: { const: "pvc" } } } } },
        { properties: { artifacts: { properties: { pvc: { properties: { claimName: { minLength: 1 } } } } } } },
      ),
      ifThen(
        { properties: { compileJob: { properties: { enabled: { const: true } } } } },
        { properties: { compileJob: { properties: { outputUri: { minLength: 6 } } } } },
      ),
      ...catalog.map(instanceRule),
    ],
  };
}
