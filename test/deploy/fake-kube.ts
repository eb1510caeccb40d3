/**
 * A tiny HTTP server that speaks the few Kubernetes API reads `herd doctor` / `herd deploy` make
 * (version, nodes, DaemonSets, one Secret, API groups), with bearer-token auth and a request log.
 * No real API server can run here; this stands in for one.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import type { DaemonSetInfo, NodeInfo } from "../../src/planner/cluster-checks.js";

export interface FakeCluster {
  nodes: NodeInfo[];
  daemonSets: DaemonSetInfo[];
  /** "namespace/name" of existing secrets. */
  secrets: Set<string>;
  groupVersions: string[];
  token: string;
}

export interface FakeKube {
  readonly url: string;
  readonly cluster: FakeCluster;
  /** "METHOD path" of every request, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export function node(name: string, instanceType: string, allocatable: Record<string, string> = {}, taint?: string): NodeInfo {
  return {
    metadata: { name, labels: { "node.kubernetes.io/instance-type": instanceType, "kubernetes.io/arch": "amd64" } },
    spec: taint ? { taints: [{ key: taint, effect: "NoSchedule" }] } : {},
    status: { allocatable: { cpu: "190", memory: "2000Gi", ...allocatable }, capacity: { cpu: "192", ...allocatable } },
  };
}

export function daemonSet(namespace: string, name: string, ready: number, desired = ready): DaemonSetInfo {
  return { metadata: { name, namespace }, status: { desiredNumberScheduled: desired, numberReady: ready } };
}

/** A healthy EKS cluster with one trn2.48xlarge node and the Neuron device plugin. */
export function trn2Cluster(): FakeCluster {
  return {
    nodes: [
      node("ip-10-0-1-1", "m7i.xlarge"),
      node("ip-10-0-2-2", "trn2.48xlarge", { "aws.amazon.com/neuron": "16", "aws.amazon.com/neuroncore": "64" }, "aws.amazon.com/neuron"),
    ],
    daemonSets: [daemonSet("kube-system", "aws-node", 2), daemonSet("kube-system", "neuron-device-plugin", 1)],
    secrets: new Set(["inference/hf-token"]),
    groupVersions: ["apps/v1", "monitoring.coreos.com/v1", "keda.sh/v1alpha1"],
    token: "test-token",
  };
}

const status = (code: number, message: string) => ({ kind: "Status", apiVersion: "v1", status: "Failure", message, code });

export async function startFakeKube(cluster: FakeCluster): Promise<FakeKube> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    requests.push(`${req.method} ${path}`);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${cluster.token}`) return send(401, status(401, "Unauthorized"));
    if (req.method !== "GET") return send(405, status(405, "the fake API server is read-only"));
    if (path === "/version") return send(200, { major: "1", minor: "31", gitVersion: "v1.31.4-eks" });
    if (path === "/api/v1/nodes") return send(200, { kind: "NodeList", apiVersion: "v1", items: cluster.nodes });
    if (path === "/apis/apps/v1/daemonsets") return send(200, { kind: "DaemonSetList", apiVersion: "apps/v1", items: cluster.daemonSets });
    if (path === "/apis") {
      const groups = cluster.groupVersions.map((gv) => ({
        name: gv.split("/")[0],
        versions: [{ groupVersion: gv, version: gv.split("/")[1] }],
      }));
      return send(200, { kind: "APIGroupList", apiVersion: "v1", groups });
    }
    const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
    if (secret) {
      const key = `${secret[1]}/${secret[2]}`;
      return cluster.secrets.has(key)
        ? send(200, { kind: "Secret", metadata: { name: secret[2], namespace: secret[1] } })
        : send(404, status(404, `secrets "${secret[2]}" not found`));
    }
    return send(404, status(404, "the server could not find the requested resource"));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cluster,
    requests,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

export interface KubeconfigUser {
  token?: string;
  exec?: { command: string; args?: string[]; env?: { name: string; value: string }[] };
}

/** Writes a kubeconfig with one context "test" (current unless `noCurrentContext`). */
export async function writeKubeconfig(
  dir: string,
  server: string,
  user: KubeconfigUser,
  opts: { noCurrentContext?: boolean; namespace?: string } = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "kubeconfig");
  const cfg = {
    apiVersion: "v1",
    kind: "Config",
    ...(opts.noCurrentContext ? {} : { "current-context": "test" }),
    clusters: [{ name: "eks", cluster: { server } }],
    contexts: [{ name: "test", context: { cluster: "eks", user: "dev", namespace: opts.namespace ?? "inference" } }],
    users: [
      {
        name: "dev",
        user: user.exec ? { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", ...user.exec } } : { token: user.token },
      },
    ],
  };
  await writeFile(path, stringify(cfg));
  return path;
}
