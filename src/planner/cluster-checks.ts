/**
 * `herd doctor`'s judgement of a cluster, the guide's way: are there nodes of the instance type, do
 * they advertise the catalog's device count (`aws.amazon.com/neuron` / `nvidia.com/gpu`), is the
 * device plugin running, is the HF token secret there, are the optional CRDs installed. Pure: the
 * caller fetches the API objects and passes them in.
 * @module
 */
import { deviceResource, type InstanceType } from "./instances.js";
import { INSTANCE_TYPE_LABEL } from "./chart-values.js";

export type Level = "ok" | "warn" | "fail";

export interface Finding {
  readonly level: Level;
  readonly check: string;
  readonly message: string;
}

/** The parts of a Node the checks read. */
export interface NodeInfo {
  readonly metadata?: { readonly name?: string; readonly labels?: Record<string, string> };
  readonly spec?: { readonly taints?: readonly { readonly key?: string; readonly effect?: string }[] };
  readonly status?: { readonly allocatable?: Record<string, string>; readonly capacity?: Record<string, string> };
}

export interface DaemonSetInfo {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly status?: { readonly desiredNumberScheduled?: number; readonly numberReady?: number };
}

export interface ClusterSnapshot {
  readonly nodes: readonly NodeInfo[];
  /** null: the caller could not list DaemonSets (RBAC). */
  readonly daemonSets: readonly DaemonSetInfo[] | null;
  /** true/false: the HF token secret exists; null: not checked or not allowed. */
  readonly hfTokenSecret: boolean | null;
  readonly hfTokenSecretName: string;
  readonly namespace: string;
  /** API group versions served (`monitoring.coreos.com/v1`, `keda.sh/v1alpha1`, …). */
  readonly apiGroupVersions: readonly string[];
}

const PLUGIN_PATTERNS: Record<string, RegExp> = {
  "aws.amazon.com/neuron": /neuron-device-plugin/,
  "nvidia.com/gpu": /nvidia-device-plugin|gpu-operator|nvidia-gpu-device-plugin/,
};

const PLUGIN_INSTALL: Record<string, string> = {
  "aws.amazon.com/neuron": "helm upgrade --install neuron-helm-chart oci://public.ecr.aws/neuron/neuron-helm-chart --set npd.enabled=false",
  "nvidia.com/gpu": "helm upgrade --install nvdp nvdp/nvidia-device-plugin -n kube-system (or the EKS GPU AMI's plugin / GPU Operator)",
};

const typeOf = (n: NodeInfo) => n.metadata?.labels?.[INSTANCE_TYPE_LABEL] ?? "(no instance-type label)";

function summarizeTypes(nodes: readonly NodeInfo[]): string {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(typeOf(n), (counts.get(typeOf(n)) ?? 0) + 1);
  return [...counts].map(([t, c]) => `${c}× ${t}`).join(", ") || "none";
}

function deviceChecks(i: InstanceType, nodes: readonly NodeInfo[], resource: string): Finding[] {
  const out: Finding[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? "?";
    const alloc = Number(n.status?.allocatable?.[resource] ?? "0");
    if (alloc === 0) {
      out.push({
        level: "fail",
        check: "devices",
        message: `node ${name}: allocatable ${resource} is 0 or missing — the device plugin is not advertising its ${i.deviceName} devices`,
      });
    } else if (alloc !== i.devices) {
      out.push({
        level: "fail",
        check: "devices",
        message:
          `node ${name}: allocatable ${resource} = ${alloc}, but the catalog says ${i.name} has ${i.devices}; ` +
          `fix the catalog or the device plugin before deploying`,
      });
    } else {
      out.push({ level: "ok", check: "devices", message: `node ${name}: ${resource} = ${alloc} allocatable, as the catalog expects` });
    }
    const tainted = n.spec?.taints?.some((t) => t.key === resource);
    if (tainted) out.push({ level: "ok", check: "taints", message: `node ${name} is tainted ${resource}; the chart's values tolerate it` });
  }
  return out;
}

/** Findings for a cluster snapshot; `instance` narrows them to one instance type. */
export function checkCluster(snap: ClusterSnapshot, instance: InstanceType | null): Finding[] {
  const out: Finding[] = [];
  out.push({
    level: snap.nodes.length > 0 ? "ok" : "warn",
    check: "nodes",
    message: `${snap.nodes.length} node(s): ${summarizeTypes(snap.nodes)}`,
  });
  const resource = instance ? deviceResource(instance) : null;
  if (instance) {
    const matching = snap.nodes.filter((n) => typeOf(n) === instance.name);
    if (matching.length === 0) {
      out.push({
        level: "warn",
        check: "instance type",
        message:
          `no ${instance.name} node now; a node group or Karpenter NodePool must provide one ` +
          `(the pod selects ${INSTANCE_TYPE_LABEL}=${instance.name})`,
      });
    } else {
      out.push({ level: "ok", check: "instance type", message: `${matching.length} ${instance.name} node(s)` });
      if (resource) out.push(...deviceChecks(instance, matching, resource));
    }
  }
  const resources = resource
    ? [resource]
    : [...new Set(snap.nodes.flatMap((n) => Object.keys(n.status?.allocatable ?? {})).filter((r) => r in PLUGIN_PATTERNS))];
  for (const r of resources) {
    if (snap.daemonSets === null) {
      out.push({
        level: "warn",
        check: "device plugin",
        message: `cannot list DaemonSets (permissions); check that the ${r} device plugin runs`,
      });
      continue;
    }
    const ds = snap.daemonSets.find((d) => PLUGIN_PATTERNS[r]!.test(d.metadata?.name ?? ""));
    if (!ds) {
      out.push({
        level: "fail",
        check: "device plugin",
        message: `no ${r} device plugin DaemonSet found; install it: ${PLUGIN_INSTALL[r]}`,
      });
    } else {
      const ready = ds.status?.numberReady ?? 0;
      const desired = ds.status?.desiredNumberScheduled ?? 0;
      const where = `${ds.metadata?.namespace ?? "?"}/${ds.metadata?.name ?? "?"}`;
      out.push({ level: ready === desired ? "ok" : "warn", check: "device plugin", message: `${where}: ${ready}/${desired} ready` });
    }
  }
  if (
    instance?.accelerator === "neuron" &&
    snap.daemonSets?.some((d) => /neuron-scheduler|my-scheduler/.test(d.metadata?.name ?? "")) === false
  ) {
    out.push({
      level: "ok",
      check: "scheduler",
      message: "no Neuron scheduler extension: fine for one pod per node (the chart uses the default scheduler)",
    });
  }
  if (snap.hfTokenSecret === true)
    out.push({ level: "ok", check: "hf token", message: `secret ${snap.namespace}/${snap.hfTokenSecretName} exists` });
  else if (snap.hfTokenSecret === false) {
    out.push({
      level: "warn",
      check: "hf token",
      message:
        `no secret ${snap.namespace}/${snap.hfTokenSecretName}; gated models (Llama 4) need it: ` +
        `kubectl -n ${snap.namespace} create secret generic ${snap.hfTokenSecretName} --from-literal=token=hf_...`,
    });
  }
  const has = (gv: string) => snap.apiGroupVersions.includes(gv);
  out.push({
    level: has("monitoring.coreos.com/v1") ? "ok" : "warn",
    check: "ServiceMonitor CRD",
    message: has("monitoring.coreos.com/v1")
      ? "prometheus-operator installed"
      : "prometheus-operator CRDs missing: keep serviceMonitor.enabled=false",
  });
  out.push({
    level: has("keda.sh/v1alpha1") ? "ok" : "warn",
    check: "KEDA CRD",
    message: has("keda.sh/v1alpha1") ? "KEDA installed" : "KEDA CRDs missing: keep autoscaling.enabled=false",
  });
  return out;
}
