/**
 * The chart's inferencePool option: a GIE InferencePool over the serving pods plus the llm-d router's
 * endpoint picker, standalone (Envoy beside the EPP) and gateway (an HTTPRoute) modes. Every rendered
 * object is validated: core kinds by kubernetes-models, InferencePool and HTTPRoute by ajv over the
 * CRD schema subsets in crds/, the EPP's config file by crds.ts.
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { type ChartValues, chartValuesFromPlan, IMAGE_EPP } from "../../src/planner/chart-values.js";
import { findInstance } from "../../src/planner/instances.js";
import { knownModelSpec } from "../../src/planner/known-models.js";
import { makePlan } from "../../src/planner/plan.js";
import { type K8sObject, parseManifests, template, validateObject } from "./chart-helpers.js";
import { validateEppConfig, validateHttpRoute, validateInferencePool } from "./crds.js";

function values(pool: Partial<ChartValues["inferencePool"]>): ChartValues {
  const plan = makePlan({ model: knownModelSpec("maverick")!, instance: findInstance("x2iedn.32xlarge")!, dtype: "q4_k_m", maxNumSeqs: 8 });
  const v = chartValuesFromPlan(plan, {
    artifacts: "s3://models/llama4/maverick-q4",
    image: { repository: "ghcr.io/example/herd", tag: "0.1.0" },
  });
  v.replicaCount = 2;
  v.inferencePool = { ...v.inferencePool, enabled: true, ...pool };
  return v;
}

async function render(v: ChartValues): Promise<K8sObject[]> {
  const r = await template([v]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const objs = parseManifests(r.stdout);
  for (const o of objs) validateObject(o);
  return objs;
}

const one = (objs: K8sObject[], kind: string, name?: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};
const EPP = "llama-herd-epp";
const dataOf = (o: K8sObject): Record<string, string | undefined> => (o as unknown as { data: Record<string, string> }).data;
const serverDeployment = (objs: K8sObject[]) => one(objs, "Deployment", "llama-herd");
const eppDeployment = (objs: K8sObject[]) => one(objs, "Deployment", EPP);
// biome-ignore lint/suspicious/noExplicitAny: containers read freely after schema validation
const container = (d: K8sObject, name: string): any => d.spec.template.spec.containers.find((c: { name: string }) => c.name === name);

describe("inferencePool: standalone mode (no Gateway)", () => {
  it("pools the serving pods, points at the EPP Service, and runs Envoy beside the EPP", async () => {
    const objs = await render(values({}));
    const pool = one(objs, "InferencePool");
    expect(pool.apiVersion).toBe("inference.networking.k8s.io/v1");
    // exactly the serving pods: the server Deployment's selector, not the EPP's or the compile Job's pods
    expect(pool.spec.selector.matchLabels).toEqual(serverDeployment(objs).spec.selector.matchLabels);
    expect(pool.spec.selector.matchLabels["herd.dev/role"]).toBe("server");
    expect(pool.spec.targetPorts).toEqual([{ number: 8000 }]);
    expect(container(serverDeployment(objs), "server").ports).toContainEqual(
      expect.objectContaining({ name: "http", containerPort: 8000 }),
    );
    expect(pool.spec.endpointPickerRef).toEqual({ kind: "Service", name: EPP, port: { number: 9002 }, failureMode: "FailClose" });

    const svc = one(objs, "Service", EPP);
    expect(svc.spec.ports.map((p: { name: string; port: number }) => [p.name, p.port])).toEqual([
      ["grpc-ext-proc", 9002],
      ["metrics", 9090],
      ["http", 8081],
    ]);
    const epp = eppDeployment(objs);
    expect(svc.spec.selector).toEqual(epp.spec.template.metadata.labels);
    expect(epp.spec.template.metadata.labels["herd.dev/role"]).toBe("endpoint-picker");
    const c = container(epp, "epp");
    expect(c.image).toBe(`${IMAGE_EPP.repository}:${IMAGE_EPP.tag}`);
    expect(IMAGE_EPP.tag).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(c.args.join(" ")).toContain("--pool-name llama-herd --pool-namespace inference --pool-group inference.networking.k8s.io");
    expect(c.args.join(" ")).toContain("--config-file /config/epp-config.yaml");
    const envoy = container(epp, "envoy");
    expect(envoy.image).toBe("docker.io/envoyproxy/envoy:distroless-v1.33.2");
    expect(envoy.ports).toContainEqual(expect.objectContaining({ name: "http", containerPort: 8081 }));
    expect(objs.filter((o) => o.kind === "HTTPRoute")).toEqual([]);

    // Envoy: ext_proc to the EPP on localhost, then the pod the EPP named
    const cm = one(objs, "ConfigMap", EPP);
    const envoyYaml = parseYaml(dataOf(cm)["envoy.yaml"]!);
    const listener = envoyYaml.static_resources.listeners.find((l: { name: string }) => l.name === "inference");
    expect(listener.address.socket_address.port_value).toBe(8081);
    const filters = listener.filter_chains[0].filters[0].typed_config.http_filters;
    expect(filters[0].typed_config.grpc_service.envoy_grpc.cluster_name).toBe("epp");
    expect(filters[0].typed_config.failure_mode_allow).toBe(false);
    const pool2 = envoyYaml.static_resources.clusters.find((k: { name: string }) => k.name === "pool");
    expect(pool2.original_dst_lb_config.http_header_name).toBe("x-gateway-destination-endpoint");
  });

  it("the EPP config carries the scorer weights; a weight of 0 leaves that scorer out", async () => {
    const cfg = (objs: K8sObject[]) => validateEppConfig(dataOf(one(objs, "ConfigMap", EPP))["epp-config.yaml"]!);
    const byRef = (c: ReturnType<typeof validateEppConfig>) =>
      Object.fromEntries(c.schedulingProfiles[0]!.plugins.map((p) => [p.pluginRef, p.weight]));
    expect(byRef(cfg(await render(values({}))))).toEqual({
      "prefix-cache-scorer": 3,
      "kv-cache-utilization-scorer": 2,
      "queue-scorer": 2,
      "max-score-picker": undefined,
    });
    const custom = cfg(await render(values({ scorerWeights: { prefixCache: 5, kvCacheUtilization: 0, queue: 1 } })));
    expect(byRef(custom)).toEqual({ "prefix-cache-scorer": 5, "queue-scorer": 1, "max-score-picker": undefined });
    expect(custom.plugins.map((p) => p.type)).not.toContain("kv-cache-utilization-scorer");
  });

  it("RBAC: the EPP's own account may read pods and inferencepools in the release's namespace", async () => {
    const objs = await render(values({ failureMode: "FailOpen" }));
    const role = one(objs, "Role", EPP) as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const can = (group: string, resource: string) =>
      role.rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && ["get", "list", "watch"].every((v) => r.verbs.includes(v)),
      );
    expect(can("", "pods")).toBe(true);
    expect(can("inference.networking.k8s.io", "inferencepools")).toBe(true);
    const binding = one(objs, "RoleBinding", EPP) as unknown as {
      roleRef: { name: string };
      subjects: { name: string; namespace: string }[];
    };
    expect(binding.roleRef.name).toBe(EPP);
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: EPP, namespace: "inference" }]);
    one(objs, "ServiceAccount", EPP);
    expect(eppDeployment(objs).spec.template.spec.serviceAccountName).toBe(EPP);
    expect(one(objs, "InferencePool").spec.endpointPickerRef.failureMode).toBe("FailOpen");
    const envoyYaml = parseYaml(dataOf(one(objs, "ConfigMap", EPP))["envoy.yaml"]!);
    const listener = envoyYaml.static_resources.listeners.find((l: { name: string }) => l.name === "inference");
    expect(listener.filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.failure_mode_allow).toBe(true);
  });
});

describe("inferencePool: gateway mode", () => {
  it("an HTTPRoute from the named Gateway to the pool; no Envoy of the chart's own", async () => {
    const objs = await render(values({ mode: "gateway", gateway: { name: "inference-gw", namespace: "gateways", sectionName: "http" } }));
    const route = one(objs, "HTTPRoute");
    expect(route.spec.parentRefs).toEqual([
      { group: "gateway.networking.k8s.io", kind: "Gateway", name: "inference-gw", namespace: "gateways", sectionName: "http" },
    ]);
    expect(route.spec.rules[0].backendRefs).toEqual([{ group: "inference.networking.k8s.io", kind: "InferencePool", name: "llama-herd" }]);
    one(objs, "InferencePool");
    expect(container(eppDeployment(objs), "envoy")).toBeUndefined();
    expect(one(objs, "Service", EPP).spec.ports.map((p: { name: string }) => p.name)).toEqual(["grpc-ext-proc", "metrics"]);
    expect(dataOf(one(objs, "ConfigMap", EPP))["envoy.yaml"]).toBeUndefined();
    // namespace and sectionName are optional
    const bare = one(await render(values({ mode: "gateway", gateway: { name: "gw", namespace: "", sectionName: "" } })), "HTTPRoute");
    expect(bare.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }]);
  });

  it("the values schema refuses gateway mode without a Gateway name, an unknown mode and a clashing proxy port", async () => {
    for (const [pool, message] of [
      [{ mode: "gateway" }, "inferencePool.gateway.name"],
      [{ mode: "sidecar" }, "inferencePool.mode"],
      [{ proxyPort: 9002 }, "inferencePool.proxyPort"],
    ] as const) {
      const r = await template([values(pool as Partial<ChartValues["inferencePool"]>)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    }
  });
});

describe("inferencePool off (the default)", () => {
  it("renders none of its objects", async () => {
    const objs = await render(values({ enabled: false }));
    expect(objs.filter((o) => ["InferencePool", "HTTPRoute", "Role", "RoleBinding"].includes(o.kind))).toEqual([]);
    expect(objs.filter((o) => o.metadata.name === EPP)).toEqual([]);
  });
});

describe("the CRD schema checks catch mistakes", () => {
  const pool = {
    apiVersion: "inference.networking.k8s.io/v1",
    kind: "InferencePool",
    metadata: { name: "p" },
    spec: {
      selector: { matchLabels: { app: "x" } },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: "epp", port: { number: 9002 } },
    },
  };
  it("InferencePool: a misspelt field, the pre-GA extensionRef, a missing EPP port, duplicate or string ports, an empty selector", () => {
    expect(() => validateInferencePool(pool)).not.toThrow();
    const bad = [
      { ...pool, spec: { ...pool.spec, targetPort: [{ number: 8000 }] } },
      { ...pool, spec: { ...pool.spec, extensionRef: { name: "epp" } } },
      { ...pool, spec: { ...pool.spec, endpointPickerRef: { name: "epp" } } },
      { ...pool, spec: { ...pool.spec, targetPorts: [{ number: 8000 }, { number: 8000 }] } },
      { ...pool, spec: { ...pool.spec, targetPorts: [{ number: "8000" }] } },
      { ...pool, spec: { ...pool.spec, selector: { matchLabels: {} } } },
      { ...pool, apiVersion: "inference.networking.x-k8s.io/v1alpha2" },
    ];
    for (const b of bad) expect(() => validateInferencePool(b), JSON.stringify(b.spec)).toThrow();
  });
  it("HTTPRoute: a misspelt backendRefs, a bad namespace; EPP config: an undeclared pluginRef, a string weight", () => {
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "r" },
      spec: { parentRefs: [{ name: "gw" }] },
    };
    expect(() => validateHttpRoute(route)).not.toThrow();
    expect(() => validateHttpRoute({ ...route, spec: { ...route.spec, rules: [{ backendRef: [{ name: "p" }] }] } })).toThrow();
    expect(() => validateHttpRoute({ ...route, spec: { parentRefs: [{ name: "gw", namespace: "Bad_NS" }] } })).toThrow();
    const cfg = (ref: string, weight: unknown) =>
      `apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n  - type: queue-scorer\n` +
      `schedulingProfiles:\n  - name: default\n    plugins:\n      - pluginRef: ${ref}\n        weight: ${JSON.stringify(weight)}\n`;
    expect(() => validateEppConfig(cfg("queue-scorer", 2))).not.toThrow();
    expect(() => validateEppConfig(cfg("prefix-cache-scorer", 2))).toThrow(/undeclared/);
    expect(() => validateEppConfig(cfg("queue-scorer", "2"))).toThrow();
  });
});
