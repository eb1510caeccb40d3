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
import { type Backend, BACKENDS, type Plan, VLLM_GPU_MEMORY_UTILIZATION } from "./plan.js";

export const INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type";

export type ArtifactSource = "none" | "s3" | "pvc";

/** vLLM's serving flags for the vllm backend (`vllm serve`): the plan's `vllm` sizing, and tool calling. */
export interface VllmValues {
  /** --gpu-memory-utilization: the share of each GPU vLLM claims for weights, KV cache and activations. */
  gpuMemoryUtilization: number;
  /** --quantization: "" = the checkpoint's own, fp8 = dynamic fp8 weights. */
  quantization: "" | "fp8";
  /** --kv-cache-dtype. */
  kvCacheDtype: "auto" | "fp8";
  /** --tool-call-parser (with --enable-auto-tool-choice); "" turns tool calling off. */
  toolCallParser: string;
  /** --chat-template ("" = the model's). */
  chatTemplate: string;
}

export interface ChartValues {
  /** The plan's backend (the planner picks it: `herd plan` / `herd deploy --backend`). */
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
  /**
   * The pods' ServiceAccount: created (named `name`, default the release's full name) or an existing
   * one (`create: false`). `roleArn` annotates it for IRSA; for EKS Pod Identity the association
   * targets its name. S3 credentials for artifact staging and the compile Job come from there.
   */
  serviceAccount: { create: boolean; name: string; roleArn: string; annotations: Record<string, string> };
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
  vllm: VllmValues;
  inferencePool: InferencePoolValues;
  /** `herd router` as its own Deployment and Service in front of a headless Service of the model pods (docs/router.md). */
  router: RouterValues;
}

/**
 * Gateway API Inference Extension: an InferencePool over the serving pods and the llm-d router's
 * endpoint picker (EPP) choosing a pod per request with weighted scorers. `standalone`: Envoy beside
 * the EPP in its pod (llm-d's standalone mode, no Gateway needed); `gateway`: an HTTPRoute from an
 * existing Gateway (one with GIE support) to the pool.
 */
export interface InferencePoolValues {
  enabled: boolean;
  mode: "standalone" | "gateway";
  /** The serving container's port the pool sends requests to (herd and vLLM: 8000). */
  targetPort: number;
  /** What the proxy does when the EPP does not answer: FailOpen sends the request to any pod. */
  failureMode: "FailOpen" | "FailClose";
  eppImage: { repository: string; tag: string };
  /** standalone: the Envoy sidecar's image and the port clients call. */
  proxyImage: { repository: string; tag: string };
  proxyPort: number;
  /** The EPP's scorer weights (0 leaves a scorer out). */
  scorerWeights: { prefixCache: number; kvCacheUtilization: number; queue: number };
  /** gateway: the Gateway the HTTPRoute attaches to (namespace empty: the release's). */
  gateway: { name: string; namespace: string; sectionName: string };
}

/** `herd router`'s policies (src/router/policy.ts; a test keeps the two lists equal). */
export const ROUTER_POLICIES = ["cache_aware", "round_robin", "random", "power_of_two"] as const;

export interface RouterValues {
  enabled: boolean;
  replicas: number;
  policy: (typeof ROUTER_POLICIES)[number];
  /** Empty repository: herdImage (the router is the herd CLI). */
  image: { repository: string; tag: string };
  /** SGLang's router flags: --cache-threshold, --balance-abs-threshold, --balance-rel-threshold. */
  cacheThreshold: number;
  balanceAbsThreshold: number;
  balanceRelThreshold: number;
  /** Seconds between health checks and DNS lookups of the headless Service. */
  healthCheckInterval: number;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  service: { type: "ClusterIP" | "NodePort" | "LoadBalancer"; port: number; annotations: Record<string, string> };
  extraArgs: string[];
}

export const DEFAULT_ROUTER_VALUES: RouterValues = {
  enabled: false,
  replicas: 1,
  policy: "cache_aware",
  image: { repository: "", tag: "" },
  cacheThreshold: 0.5,
  balanceAbsThreshold: 32,
  balanceRelThreshold: 1.0001,
  healthCheckInterval: 5,
  resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "512Mi" } },
  service: { type: "ClusterIP", port: 8000, annotations: {} },
  extraArgs: [],
};

export interface ValuesOptions {
  /** Image of the serving container; default per backend. */
  readonly image?: { repository: string; tag: string };
  readonly herdImage?: { repository: string; tag: string };
  /** `s3://bucket/prefix` to stage (`herd artifacts pull`; on vllm-neuron an AWS CLI script), or `pvc:CLAIM[/subpath]` to mount. */
  readonly artifacts?: string;
  /** Path the server loads; default: the artifacts mount (herd) or the model id (vLLM). */
  readonly modelPath?: string;
  /** Minutes the startup probe allows; default 20 (herd), 30 (vllm: Hub download first), 90 (Neuron: 30–60 min compile/load, guide). */
  readonly startupMinutes?: number;
  /** IAM role for S3 (IRSA): annotates the ServiceAccount the chart creates. */
  readonly s3RoleArn?: string;
  /** ServiceAccount name; without `s3RoleArn` an existing account (the chart creates none). */
  readonly serviceAccount?: string;
}

/** An IAM role ARN (any partition), as IRSA's `eks.amazonaws.com/role-arn` annotation takes it. */
export const ROLE_ARN_PATTERN = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]+$";
const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

function serviceAccountValues(opts: ValuesOptions): ChartValues["serviceAccount"] {
  if (opts.s3RoleArn !== undefined && !new RegExp(ROLE_ARN_PATTERN).test(opts.s3RoleArn))
    throw new Error(`--s3-role-arn must be an IAM role ARN, arn:aws:iam::<account>:role/<name> (got ${JSON.stringify(opts.s3RoleArn)})`);
  if (opts.serviceAccount !== undefined && !new RegExp(DNS_SUBDOMAIN).test(opts.serviceAccount))
    throw new Error(
      `--service-account must be a Kubernetes name (lower case, digits, '-', '.'; got ${JSON.stringify(opts.serviceAccount)})`,
    );
  return {
    create: opts.s3RoleArn !== undefined || opts.serviceAccount === undefined,
    name: opts.serviceAccount ?? "",
    roleArn: opts.s3RoleArn ?? "",
    annotations: {},
  };
}

const GiB = 2 ** 30;

/**
 * herd's own image as `.github/workflows/release.yml` publishes it on a `v*` tag: `ghcr.io/<owner>/herd`,
 * `:<version>` (linux/amd64 and linux/arm64, CPU) and `:<version>-cuda` (linux/amd64). OWNER is a
 * placeholder the workflow replaces with the GitHub owner in the chart it packages; the chart refuses
 * to render it, so a checkout needs `--image` (or `image.repository`): your own build, see docs/deploy.md.
 * Tag "": the chart's appVersion (with `-cuda` on NVIDIA nodes).
 */
export const IMAGE_HERD = { repository: "ghcr.io/OWNER/herd", tag: "" } as const;
/**
 * The guide's Neuron DLC for vllm-neuron (seed guide, values-llama-4-scout-17b-vllm-neuron.yaml):
 * pinned, `--image` overrides (the Neuron vLLM DLC, public.ecr.aws/neuron/pytorch-inference-vllm-neuronx).
 */
export const IMAGE_VLLM_NEURON = {
  repository: "public.ecr.aws/neuron/pytorch-inference-neuronx",
  tag: "2.5.1-neuronx-py310-sdk2.21.0-ubuntu22.04",
} as const;
/**
 * vLLM's upstream image for the vllm backend, at the release vLLM's Llama 4 Scout recipe for Hopper
 * and Blackwell pulls (vllm-project/recipes, Llama/Llama4-Scout.md: `vllm/vllm-openai:v0.11.2`).
 */
export const IMAGE_VLLM_GPU = { repository: "vllm/vllm-openai", tag: "v0.11.2" } as const;
/** Where that image keeps vLLM's examples: the Llama 4 pythonic tool-calling template vLLM's tool docs name. */
export const LLAMA4_TOOL_TEMPLATE_VLLM = "/vllm-workspace/examples/tool_chat_template_llama4_pythonic.jinja";
const DEFAULT_HERD_IMAGE = { repository: "herd", tag: "" };

/**
 * The `vllm:` values: a vllm plan's own sizing (`Plan.vllm`: --gpu-memory-utilization, --quantization,
 * --kv-cache-dtype, as the planner sized the KV pool with them); vLLM's defaults for the other
 * backends, whose templates do not read them.
 */
function vllmValues(plan: Plan): VllmValues {
  const s = plan.vllm;
  return {
    gpuMemoryUtilization: s?.gpuMemoryUtilization ?? VLLM_GPU_MEMORY_UTILIZATION,
    quantization: s?.quantization ?? "",
    kvCacheDtype: s?.kvCacheDtype ?? "auto",
    toolCallParser: "llama4_pythonic",
    chatTemplate: LLAMA4_TOOL_TEMPLATE_VLLM,
  };
}
/** Stages and publishes Neuron artifacts on vllm-neuron (sh, sha256sum, aws s3); pinned. */
/**
 * The llm-d router's endpoint picker (llm-d-inference-scheduler v0.7.1, built on GIE v1.x: serves the
 * inference.networking.k8s.io/v1 InferencePool API) and the Envoy llm-d's standalone chart runs beside it.
 */
export const IMAGE_EPP = { repository: "ghcr.io/llm-d/llm-d-inference-scheduler", tag: "v0.7.1" } as const;
export const IMAGE_ENVOY = { repository: "docker.io/envoyproxy/envoy", tag: "distroless-v1.33.2" } as const;

export function inferencePoolDefaults(): InferencePoolValues {
  return {
    enabled: false,
    mode: "standalone",
    targetPort: 8000,
    failureMode: "FailClose",
    eppImage: { ...IMAGE_EPP },
    proxyImage: { ...IMAGE_ENVOY },
    proxyPort: 8081,
    // llm-d's default profile: prefix-cache 3, kv-cache-utilization 2, queue 2.
    scorerWeights: { prefixCache: 3, kvCacheUtilization: 2, queue: 2 },
    gateway: { name: "", namespace: "", sectionName: "" },
  };
}

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

const MiB = 2 ** 20;

/**
 * What a node of this type leaves to pods (its allocatable), estimated as the EKS AMI's kubelet
 * computes it: kube-reserved CPU of 6 % of the first core, 1 % of the second, 0.5 % of the third and
 * fourth and 0.25 % of the rest; kube-reserved memory of 255 MiB + 11 MiB per pod (110 pods) and a
 * 100 MiB eviction threshold, taken from what the kernel reports (about 95 % of the nominal memory).
 */
export function nodeAllocatable(i: InstanceType): { cpuMillis: number; memoryBytes: number } {
  const cores = i.vcpus;
  const reservedCpu = 60 + (cores > 1 ? 10 : 0) + Math.max(0, Math.min(cores, 4) - 2) * 5 + Math.max(0, cores - 4) * 2.5;
  const reservedMemory = (255 + 11 * 110 + 100) * MiB;
  return { cpuMillis: Math.floor(cores * 1000 - reservedCpu), memoryBytes: Math.floor(i.nodeMemoryBytes * 0.95 - reservedMemory) };
}

/**
 * Left for serving pods once DaemonSets and system pods (CNI, kube-proxy, device plugin, CSI and
 * monitoring agents) have theirs: 1 core + 1 % of the cores and 1 GiB + 1 % of the memory.
 */
export function nodeCapacityForServing(i: InstanceType): { cpuMillis: number; memoryBytes: number } {
  const a = nodeAllocatable(i);
  return { cpuMillis: a.cpuMillis - (1000 + i.vcpus * 10), memoryBytes: a.memoryBytes - (GiB + i.nodeMemoryBytes * 0.01) };
}

/** The share of its node a pod of this plan holds: devices requested / devices on the node; the whole node on CPU. */
export function nodeShare(plan: Plan): number {
  return plan.instance.devices > 0 ? plan.devices / plan.instance.devices : 1;
}

const millis = (m: number) => (m % 1000 === 0 ? String(m / 1000) : `${m}m`);

/**
 * CPU and memory requests in proportion to the node share (`nodeShare × nodeCapacityForServing`),
 * CPU rounded down to 100m and memory to GiB, so pods holding half a node's devices each fit twice.
 * Memory never goes below what the plan says the pod needs (`podMemoryBytes`), and the limit equals
 * the request.
 */
export function podResources(plan: Plan): ChartValues["resources"] {
  const share = nodeShare(plan);
  const free = nodeCapacityForServing(plan.instance);
  const cpu = Math.max(100, Math.floor((share * free.cpuMillis) / 100) * 100);
  const memory = Math.max(Math.floor((share * free.memoryBytes) / GiB), Math.ceil(plan.podMemoryBytes / GiB));
  return { requests: { cpu: millis(cpu), memory: `${memory}Gi` }, limits: { memory: `${memory}Gi` } };
}

/**
 * The chart values for a plan, with the plan's backend (plan with `backend: "vllm"` for vLLM on
 * GPUs); the caller may overlay more values files on top.
 */
export function chartValuesFromPlan(plan: Plan, opts: ValuesOptions = {}): ChartValues {
  const i = plan.instance;
  const backend = plan.backend;
  const neuron = backend === "vllm-neuron";
  const vllm = backend === "vllm";
  const artifacts = parseArtifacts(opts.artifacts);
  // vLLM on GPUs downloads the checkpoint from the Hub on start (Scout bf16: 218 GB) before loading it.
  const startupMinutes = opts.startupMinutes ?? (neuron ? 90 : vllm ? 30 : 20);
  const period = 10;
  const image = opts.image ?? (neuron ? IMAGE_VLLM_NEURON : vllm ? IMAGE_VLLM_GPU : IMAGE_HERD);
  return {
    backend,
    model: plan.model.id,
    modelPath: opts.modelPath ?? "",
    modelParameters: {
      maxModelLen: plan.maxModelLen,
      maxNumSeqs: plan.maxNumSeqs,
      // The plan's: devices × cores per device on Neuron, one rank per requested GPU for vllm, none for herd.
      tensorParallelSize: plan.tensorParallelSize ?? 0,
    },
    inference: {
      accelerator: i.accelerator,
      instanceType: i.name,
      devices: plan.devices,
      logicalNeuronCoreConfig: i.logicalNeuronCoreConfig ?? 0,
    },
    replicaCount: 1,
    image: { ...image, pullPolicy: "IfNotPresent" },
    herdImage: opts.herdImage ?? (backend === "herd" ? { repository: image.repository, tag: image.tag } : DEFAULT_HERD_IMAGE),
    imagePullSecrets: [],
    resources: podResources(plan),
    nodeSelector: { [INSTANCE_TYPE_LABEL]: i.name },
    tolerations: tolerationsFor(i),
    affinity: {},
    schedulerName: "",
    priorityClassName: "",
    serviceAccount: serviceAccountValues(opts),
    podAnnotations: {},
    podLabels: {},
    podSecurityContext: {},
    securityContext: {},
    env: {},
    extraArgs: [],
    hfToken: { secretName: "hf-token", key: "token", optional: true },
    apiKey: { secretName: "", key: "api-key" },
    artifacts,
    // vLLM's tensor-parallel workers talk through shared memory (NCCL): the docs ask for --ipc=host or a large --shm-size.
    shm: { sizeLimit: neuron ? "64Gi" : vllm ? "16Gi" : "2Gi" },
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
    vllm: vllmValues(plan),
    inferencePool: inferencePoolDefaults(),
    router: structuredClone(DEFAULT_ROUTER_VALUES),
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
        enum: [...BACKENDS],
        description: "herd: this server (CPU or NVIDIA); vllm: vLLM on NVIDIA GPUs; vllm-neuron: vLLM on Trainium/Inferentia",
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
      serviceAccount: obj({
        create: { type: "boolean", description: "create the pods' ServiceAccount (false: use serviceAccount.name as it is)" },
        name: str({ pattern: `(${DNS_SUBDOMAIN})|^$`, description: "empty: the release's full name (created) or the namespace's default" }),
        roleArn: str({
          pattern: `(${ROLE_ARN_PATTERN})|^$`,
          description: "IRSA: IAM role annotated as eks.amazonaws.com/role-arn (S3 for staging and the compile Job)",
        }),
        annotations: strMap,
      }),
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
      vllm: obj(
        {
          gpuMemoryUtilization: { type: "number", exclusiveMinimum: 0, maximum: 1 },
          quantization: { enum: ["", "fp8"] },
          kvCacheDtype: { enum: ["auto", "fp8"] },
          toolCallParser: str(),
          chatTemplate: str(),
        },
        { description: "backend vllm only: vLLM's --gpu-memory-utilization, --quantization, --kv-cache-dtype and tool calling" },
      ),
      inferencePool: obj(
        {
          enabled: { type: "boolean" },
          mode: {
            enum: ["standalone", "gateway"],
            description: "standalone: Envoy + EPP in one pod, no Gateway; gateway: an HTTPRoute from inferencePool.gateway to the pool",
          },
          targetPort: int({ minimum: 1, maximum: 65535 }),
          failureMode: { enum: ["FailOpen", "FailClose"] },
          eppImage: obj(image(str({ minLength: 1 }))),
          proxyImage: obj(image(str({ minLength: 1 }))),
          proxyPort: int({ minimum: 1, maximum: 65535, not: { enum: [9002, 9003, 9090, 19000, 19001] } }),
          scorerWeights: obj({
            prefixCache: int({ minimum: 0 }),
            kvCacheUtilization: int({ minimum: 0 }),
            queue: int({ minimum: 0 }),
          }),
          gateway: obj({ name: str(), namespace: str(), sectionName: str() }),
        },
        { description: "GIE InferencePool over the serving pods + the llm-d router's endpoint picker (docs/deploy.md)" },
      ),
      router: obj(
        {
          enabled: { type: "boolean" },
          replicas: int({ minimum: 1 }),
          policy: { enum: [...ROUTER_POLICIES] },
          image: obj({ repository: str(), tag: str() }, { description: "empty repository: herdImage (the router is the herd CLI)" }),
          cacheThreshold: { type: "number", minimum: 0, maximum: 1 },
          balanceAbsThreshold: int({ minimum: 0 }),
          balanceRelThreshold: { type: "number", minimum: 0 },
          healthCheckInterval: { type: "number", exclusiveMinimum: 0 },
          resources: obj({ requests: resourceMap, limits: resourceMap }),
          service: obj({
            type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] },
            port: int({ minimum: 1, maximum: 65535 }),
            annotations: strMap,
          }),
          extraArgs: { type: "array", items: str() },
        },
        { description: "herd router (cache-aware) as its own Deployment and Service, over a headless Service of the model pods" },
      ),
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
        { properties: { backend: { const: "vllm" } } },
        {
          properties: {
            inference: { properties: { accelerator: { const: "nvidia" } } },
            modelParameters: { properties: { tensorParallelSize: { minimum: 1 } } },
            // vLLM compiles nothing ahead on GPUs: the compile Job is Neuron's and herd's.
            compileJob: { properties: { enabled: { const: false } } },
          },
        },
      ),
      // vllm: tensor parallelism over every requested GPU.
      ...Array.from({ length: Math.max(...catalog.map((i) => (i.accelerator === "nvidia" ? i.devices : 0))) }, (_, k) =>
        ifThen(
          { properties: { backend: { const: "vllm" }, inference: { properties: { devices: { const: k + 1 } } } } },
          { properties: { modelParameters: { properties: { tensorParallelSize: { const: k + 1 } } } } },
        ),
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
      // An IRSA role needs an account the chart annotates.
      ifThen(
        { properties: { serviceAccount: { properties: { roleArn: { minLength: 1 } } } } },
        { properties: { serviceAccount: { properties: { create: { const: true } } } } },
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
      // gateway mode attaches to a named Gateway.
      ifThen(
        { properties: { inferencePool: { properties: { enabled: { const: true }, mode: { const: "gateway" } } } } },
        { properties: { inferencePool: { properties: { gateway: { properties: { name: { minLength: 1 } } } } } } },
      ),
      ...catalog.map(instanceRule),
    ],
  };
}
