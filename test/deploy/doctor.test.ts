import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDoctor } from "../../src/cli/commands/doctor.js";
import type { Finding } from "../../src/planner/cluster-checks.js";
import { daemonSet, type FakeKube, node, startFakeKube, trn2Cluster, writeKubeconfig } from "./fake-kube.js";

const ROOT = resolve(import.meta.dirname, "../..");
let dir: string;
let emptyBin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herd-doctor-"));
  emptyBin = join(dir, "bin");
  await mkdir(emptyBin);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An environment with no kubectl and a HOME without ~/.kube. */
const bareEnv = (extra: Record<string, string> = {}) => ({ HOME: join(dir, "home"), PATH: emptyBin, ...extra });
const find = (fs: Finding[], check: string) => fs.filter((f) => f.check === check);
const levels = (fs: Finding[], check: string) => find(fs, check).map((f) => f.level);

async function withCluster(mutate: (k: FakeKube) => void, fn: (k: FakeKube, kubeconfig: string) => Promise<void>): Promise<void> {
  const kube = await startFakeKube(trn2Cluster());
  mutate(kube);
  try {
    const kubeconfig = await writeKubeconfig(join(dir, `kc-${Math.random().toString(36).slice(2)}`), kube.url, { token: "test-token" });
    await fn(kube, kubeconfig);
  } finally {
    await kube.close();
  }
}

describe("herd doctor without a cluster says what is missing", () => {
  it("no kubectl, no kubeconfig", async () => {
    const { findings, ok } = await runDoctor({}, bareEnv());
    expect(ok).toBe(false);
    expect(find(findings, "kubectl")[0]).toMatchObject({ level: "warn", message: expect.stringMatching(/kubectl is not on PATH/) });
    expect(levels(findings, "helm")).toEqual(["ok"]);
    expect(find(findings, "kubeconfig")[0]).toMatchObject({
      level: "fail",
      message: expect.stringMatching(/^no kubeconfig \(looked for .*\/home\/\.kube\/config\): create one with `aws eks update-kubeconfig/),
    });
  });

  it("$KUBECONFIG pointing nowhere, and a kubeconfig without a current context", async () => {
    const a = await runDoctor({}, bareEnv({ KUBECONFIG: join(dir, "missing.yaml") }));
    expect(find(a.findings, "kubeconfig")[0]!.message).toMatch(/no kubeconfig \(looked for .*missing\.yaml\)/);
    const kc = await writeKubeconfig(join(dir, "nocontext"), "http://127.0.0.1:9", { token: "x" }, { noCurrentContext: true });
    const b = await runDoctor({ kubeconfig: kc }, bareEnv());
    expect(find(b.findings, "kubeconfig")[0]!.message).toMatch(
      /has no current context: run `kubectl config use-context NAME` or pass --context/,
    );
    const c = await runDoctor({ kubeconfig: kc, context: "prod" }, bareEnv());
    expect(find(c.findings, "kubeconfig")[0]!.message).toMatch(/has no context "prod" \(contexts: test\)/);
  });

  it("an API server that does not answer", async () => {
    const kc = await writeKubeconfig(join(dir, "down"), "http://127.0.0.1:9", { token: "x" });
    const { findings, ok } = await runDoctor({ kubeconfig: kc }, bareEnv());
    expect(ok).toBe(false);
    expect(find(findings, "cluster")[0]!.message).toMatch(
      /cannot reach the API server http:\/\/127\.0\.0\.1:9 \(context "test"\): .*ECONNREFUSED/,
    );
  });

  it("the CLI prints the findings and exits 1", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "doctor", "--instance", "trn2.48xlarge"], {
      cwd: ROOT,
      env: bareEnv(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^warn {2}kubectl/m);
    expect(r.stdout).toMatch(/^FAIL {2}kubeconfig +no kubeconfig/m);
    expect(r.stdout).toMatch(/1 failure\(s\), 1 warning\(s\)/);
  });
});

describe("herd doctor against a (fake) EKS cluster", () => {
  it("a healthy trn2 cluster: nodes, 16 allocatable Neuron devices, device plugin, secret, CRDs", async () => {
    await withCluster(
      () => {},
      async (kube, kubeconfig) => {
        const { findings, ok } = await runDoctor({ kubeconfig, instance: "trn2.48xlarge" }, bareEnv());
        expect(ok, JSON.stringify(findings, null, 1)).toBe(true);
        expect(find(findings, "nodes")[0]!.message).toBe("2 node(s): 1× m7i.xlarge, 1× trn2.48xlarge");
        expect(find(findings, "devices")[0]).toEqual({
          level: "ok",
          check: "devices",
          message: "node ip-10-0-2-2: aws.amazon.com/neuron = 16 allocatable, as the catalog expects",
        });
        expect(find(findings, "device plugin")[0]).toMatchObject({ level: "ok", message: "kube-system/neuron-device-plugin: 1/1 ready" });
        expect(levels(findings, "hf token")).toEqual(["ok"]);
        expect(levels(findings, "taints")).toEqual(["ok"]);
        expect(levels(findings, "KEDA CRD")).toEqual(["ok"]);
        // Read-only, and only these calls.
        expect(kube.requests).toEqual([
          "GET /version",
          "GET /api/v1/nodes",
          "GET /apis/apps/v1/daemonsets",
          "GET /api/v1/namespaces/inference/secrets/hf-token",
          "GET /apis",
        ]);
      },
    );
  });

  it("the guide's 32 devices, a missing device plugin, a missing secret and CRDs", async () => {
    await withCluster(
      (k) => {
        k.cluster.nodes[1] = node("ip-10-0-2-2", "trn2.48xlarge", { "aws.amazon.com/neuron": "32" });
        k.cluster.daemonSets = [daemonSet("kube-system", "aws-node", 2)];
        k.cluster.secrets.clear();
        k.cluster.groupVersions = ["apps/v1"];
      },
      async (_kube, kubeconfig) => {
        const { findings, ok } = await runDoctor({ kubeconfig, instance: "trn2.48xlarge" }, bareEnv());
        expect(ok).toBe(false);
        expect(find(findings, "devices")[0]).toMatchObject({
          level: "fail",
          message: expect.stringMatching(/allocatable aws\.amazon\.com\/neuron = 32, but the catalog says trn2\.48xlarge has 16/),
        });
        expect(find(findings, "device plugin")[0]).toMatchObject({
          level: "fail",
          message: expect.stringMatching(
            /no aws\.amazon\.com\/neuron device plugin DaemonSet found; install it: helm upgrade --install neuron-helm-chart/,
          ),
        });
        expect(find(findings, "hf token")[0]).toMatchObject({
          level: "warn",
          message: expect.stringMatching(/create secret generic hf-token --from-literal=token=hf_/),
        });
        expect(levels(findings, "ServiceMonitor CRD")).toEqual(["warn"]);
      },
    );
  });

  it("no node of the instance type yet is a warning (Karpenter may bring one); a node without allocatable devices fails", async () => {
    await withCluster(
      () => {},
      async (_kube, kubeconfig) => {
        const { findings, ok } = await runDoctor({ kubeconfig, instance: "p5.48xlarge" }, bareEnv());
        expect(find(findings, "instance type")[0]).toMatchObject({
          level: "warn",
          message: expect.stringMatching(/no p5\.48xlarge node now/),
        });
        expect(find(findings, "device plugin")[0]).toMatchObject({
          level: "fail",
          message: expect.stringMatching(/nvidia\.com\/gpu device plugin/),
        });
        expect(ok).toBe(false);
      },
    );
    await withCluster(
      (k) => (k.cluster.nodes[1] = node("ip-10-0-2-2", "trn2.48xlarge")),
      async (_kube, kubeconfig) => {
        const { findings } = await runDoctor({ kubeconfig, instance: "trn2.48xlarge" }, bareEnv());
        expect(find(findings, "devices")[0]!.message).toMatch(/allocatable aws\.amazon\.com\/neuron is 0 or missing/);
      },
    );
  });

  it("rejected credentials and an unknown instance type", async () => {
    await withCluster(
      (k) => (k.cluster.token = "other"),
      async (_kube, kubeconfig) => {
        const { findings } = await runDoctor({ kubeconfig }, bareEnv());
        expect(find(findings, "credentials")[0]!.message).toMatch(/rejected the credentials of context "test" \(HTTP 401\)/);
        const bad = await runDoctor({ kubeconfig, instance: "trn3.huge" }, bareEnv());
        expect(find(bad.findings, "instance")[0]!.message).toMatch(/unknown instance type trn3\.huge/);
      },
    );
  });

  it("an exec credential plugin (EKS `aws eks get-token` style) supplies the token; a missing one is named", async () => {
    const kube = await startFakeKube(trn2Cluster());
    try {
      const plugin = join(dir, "get-token.mjs");
      await writeFile(
        plugin,
        `console.log(JSON.stringify({ kind: "ExecCredential", apiVersion: "client.authentication.k8s.io/v1beta1", ` +
          `status: { token: process.env.FAKE_TOKEN } }));\n`,
      );
      const kc = await writeKubeconfig(join(dir, "exec"), kube.url, {
        exec: { command: process.execPath, args: [plugin], env: [{ name: "FAKE_TOKEN", value: "test-token" }] },
      });
      const { findings, ok } = await runDoctor({ kubeconfig: kc, instance: "trn2.48xlarge" }, bareEnv());
      expect(ok, JSON.stringify(findings)).toBe(true);
      const kc2 = await writeKubeconfig(join(dir, "exec-aws"), kube.url, {
        exec: { command: "aws", args: ["eks", "get-token", "--cluster-name", "c"] },
      });
      const missing = await runDoctor({ kubeconfig: kc2 }, bareEnv());
      expect(find(missing.findings, "kubeconfig")[0]!.message).toMatch(
        /gets its credentials from `aws`, which is not on PATH \(EKS: install the AWS CLI\)/,
      );
    } finally {
      await kube.close();
    }
  });
});
