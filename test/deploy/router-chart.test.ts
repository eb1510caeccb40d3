/**
 * The chart with `router.enabled`: herd router's Deployment and Service in front of a headless Service
 * of the model pods, rendered by a real helm and validated against the Kubernetes schemas.
 */
import { describe, expect, it } from "vitest";
import { ROUTER_POLICIES, chartValuesFromPlan, type ChartValues } from "../../src/planner/chart-values.js";
import { findInstance } from "../../src/planner/instances.js";
import { knownModelSpec } from "../../src/planner/known-models.js";
import { makePlan } from "../../src/planner/plan.js";
import { POLICY_NAMES } from "../../src/router/policy.js";
import { type K8sObject, parseManifests, template, validateObject } from "./chart-helpers.js";

function values(): ChartValues {
  const plan = makePlan({ model: knownModelSpec("scout")!, instance: findInstance("p5.48xlarge")!, dtype: "bf16", maxNumSeqs: 16 });
  const v = chartValuesFromPlan(plan, { image: { repository: "ghcr.io/example/herd-cuda", tag: "0.1.0" } });
  v.replicaCount = 2;
  v.router = {
    ...v.router,
    enabled: true,
    replicas: 2,
    policy: "cache_aware",
    balanceAbsThreshold: 8,
    extraArgs: ["--log-level", "debug"],
  };
  return v;
}

// biome-ignore lint/suspicious/noExplicitAny: rendered objects, read freely after schema validation
const find = (objs: K8sObject[], kind: string, name: string): any => objs.find((o) => o.kind === kind && o.metadata.name === name);

describe("chart: router.enabled", () => {
  it("renders the router Deployment and Service and a headless Service of the model pods", async () => {
    const r = await template([values()]);
    expect(r.code, r.stderr).toBe(0);
    const objs = parseManifests(r.stdout);
    for (const o of objs) expect(() => validateObject(o), `${o.kind} ${o.metadata.name}`).not.toThrow();

    const headless = find(objs, "Service", "llama-herd-headless");
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.selector["herd.dev/role"]).toBe("server");

    const dep = find(objs, "Deployment", "llama-herd-router");
    expect(dep.spec.replicas).toBe(2);
    const pod = dep.spec.template.spec;
    expect(dep.spec.template.metadata.labels["herd.dev/role"]).toBe("router");
    const c = pod.containers[0];
    expect(c.image).toBe("ghcr.io/example/herd-cuda:0.1.0"); // herdImage: the herd backend's own image
    const flag = (f: string) => c.args[c.args.indexOf(f) + 1];
    expect(c.args[0]).toBe("router");
    expect(flag("--worker-dns")).toBe("llama-herd-headless.inference.svc.cluster.local:8000");
    expect(flag("--policy")).toBe("cache_aware");
    expect(flag("--balance-abs-threshold")).toBe("8");
    expect(flag("--balance-rel-threshold")).toBe("1.0001");
    expect(c.args.slice(-2)).toEqual(["--log-level", "debug"]);

    const svc = find(objs, "Service", "llama-herd-router");
    expect(svc.spec.selector["herd.dev/role"]).toBe("router");
    // The model Service still selects the model pods only.
    expect(find(objs, "Service", "llama-herd").spec.selector["herd.dev/role"]).toBe("server");
  });

  it("renders none of it by default, and the schema refuses an unknown policy", async () => {
    const off = values();
    off.router.enabled = false;
    const objs = parseManifests((await template([off])).stdout);
    expect(objs.filter((o) => o.metadata.name.endsWith("-router") || o.metadata.name.endsWith("-headless"))).toEqual([]);

    const bad = values();
    (bad.router as { policy: string }).policy = "prefix_hash";
    const r = await template([bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/router\.policy/);
  });

  it("offers exactly herd router's policies", () => {
    expect([...ROUTER_POLICIES]).toEqual([...POLICY_NAMES]);
  });
});
