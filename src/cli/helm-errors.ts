/**
 * Helm's and the cluster's failures, as herd's own one-line message with the fix. Helm prints Go
 * errors with the template's position, the schema library's list, or the API server's text, and
 * suggests `--debug`, a flag herd does not have; `herd deploy` shows this headline instead and keeps
 * helm's own output for `--verbose`.
 * @module
 */

/** A failed helm run: `message` is the one line for the user, `detail` helm's own output. */
export class HelmError extends Error {
  override readonly name = "HelmError";
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

export interface HelmContext {
  /** `template` renders only; `install` talks to the cluster. */
  readonly step: "template" | "install";
  readonly release: string;
  readonly namespace: string;
}

type Rule = (text: string, ctx: HelmContext) => string | null;

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

/** The CRDs the chart's optional objects need, and how to get them or do without. */
const CRD_FIX: Record<string, string> = {
  ServiceMonitor:
    "the cluster has no ServiceMonitor CRD (prometheus-operator): install kube-prometheus-stack, or drop serviceMonitor.enabled",
  ScaledObject:
    "the cluster has no ScaledObject CRD (KEDA): helm install keda kedacore/keda -n keda --create-namespace, or drop autoscaling.enabled",
};

const RULES: readonly Rule[] = [
  // values.schema.json: "- inference.devices: Must be less than or equal to 16" items under a header.
  (t) => {
    if (!/values don't meet the specifications of the schema/.test(t)) return null;
    const all = [...t.matchAll(/^\s*- (.+)$/gm)].map((m) => m[1]!.trim());
    // "(root): Must validate all the schemas (allOf)" and the like only say that a nested rule failed.
    const items = all.filter((i) => !i.startsWith("(root):"));
    const what = (items.length ? items : all).join("; ") || "see --verbose";
    return `the chart's values are invalid: ${what} (fix the -f/--set values; values.schema.json lists what is allowed)`;
  },
  // `fail` / `required` in the templates: their text already names the fix.
  (t) => {
    const m = /execution error at \([^)]*\): (.+)/.exec(t);
    return m ? m[1]!.trim() : null;
  },
  (t, ctx) => {
    const m = /Kubernetes cluster unreachable: (.+)/.exec(t);
    if (!m) return null;
    return (
      `cannot reach the cluster (${m[1]!.trim()}): check --kubeconfig/--context ` +
      `(aws eks update-kubeconfig --name CLUSTER --region REGION), then herd doctor --namespace ${ctx.namespace}`
    );
  },
  (t) => {
    const m = /no matches for kind "(\w+)" in version "([^"]+)"/.exec(t);
    if (!m) return null;
    return CRD_FIX[m[1]!] ?? `the cluster does not know ${m[1]} (${m[2]}): install its CRD first`;
  },
  (t, ctx) =>
    /another operation \(install\/upgrade\/rollback\) is in progress/.test(t)
      ? `release ${ctx.release} is stuck in a pending state from an earlier run: ` +
        `helm -n ${ctx.namespace} rollback ${ctx.release} (or helm -n ${ctx.namespace} uninstall ${ctx.release}), then deploy again`
      : null,
  (t, ctx) =>
    /has no deployed releases/.test(t)
      ? `release ${ctx.release}'s first install failed and left it behind: ` +
        `helm -n ${ctx.namespace} uninstall ${ctx.release}, then deploy again`
      : null,
  (t, ctx) => {
    const m = /User "([^"]+)" cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?/.exec(t);
    if (!m) return null;
    const group = m[4] ? `${m[4]}/` : "";
    return (
      `${m[1]} may not ${m[2]} ${group}${m[3]} in namespace ${ctx.namespace}: ask a cluster admin for that RBAC permission, ` +
      `or use a --context that has it`
    );
  },
  (t, ctx) => {
    const m = /exceeded quota: ([^,\n]+)(?:, requested: ([^\n]+))?/.exec(t);
    return m
      ? `ResourceQuota ${m[1]!.trim()} in namespace ${ctx.namespace} refuses the pods${m[2] ? ` (requested: ${m[2].trim()})` : ""}: ` +
          "raise the quota or deploy elsewhere"
      : null;
  },
  (t) => {
    const m = /admission webhook "([^"]+)" denied the request: (.+)/.exec(t);
    return m ? `admission webhook ${m[1]} refused the manifests: ${m[2]!.trim()}` : null;
  },
  (t, ctx) => {
    const m = /cannot patch "([^"]+)" with kind (\w+): (.+?)(?:$|\n)/m.exec(t);
    return m
      ? `${m[2]} ${m[1]} cannot be changed in place (${m[3]!.trim()}): helm -n ${ctx.namespace} uninstall ${ctx.release}, then deploy again`
      : null;
  },
  (t, ctx) => {
    const m = /rendered manifests contain a resource that already exists\. Unable to continue with (?:install|update): (.+)/.exec(t);
    return m ? `${m[1]!.trim()}: delete it, or deploy under another --release than ${ctx.release}` : null;
  },
  (t) => {
    const m = /namespaces "([^"]+)" not found/.exec(t);
    return m ? `namespace ${m[1]} does not exist: create it (kubectl create namespace ${m[1]}) or pick another --namespace` : null;
  },
  (t) =>
    /timed out waiting for the condition|context deadline exceeded|i\/o timeout/.test(t)
      ? "the cluster did not answer in time: check the network path to the API server (VPN, endpoint access), then retry"
      : null,
];

/** herd's one-line message for a failed helm run (its stderr), ending with the fix. */
export function explainHelmFailure(stderr: string, ctx: HelmContext): string {
  const text = stderr.replace(/\r/g, "");
  for (const rule of RULES) {
    const message = rule(text, ctx);
    if (message) return oneLine(message);
  }
  const first = /^Error: (.+)$/m.exec(text)?.[1] ?? text.split("\n").find((l) => l.trim()) ?? "no output";
  const what = oneLine(first.replace(/\s*Use --debug flag to render out invalid YAML\.?/, ""));
  const step = ctx.step === "template" ? "could not render the chart" : "upgrade --install failed";
  return `helm ${step}: ${what} (herd deploy --verbose shows helm's output)`;
}

/** The error `herd deploy` throws for a failed helm run. */
export function helmError(stderr: string, ctx: HelmContext): HelmError {
  return new HelmError(explainHelmFailure(stderr, ctx), stderr.trim());
}
