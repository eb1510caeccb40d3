/**
 * Static checks of the container recipe and the Grafana dashboard (no Docker engine or Grafana can
 * run here): the Dockerfile's entry point is the package's bin, its port is the chart's, it runs as
 * a non-root user; every metric the dashboard queries is one the server exports.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ServerMetrics } from "../../src/server/metrics.js";

const ROOT = resolve(import.meta.dirname, "../..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
/** `${name}` as Dockerfile and Grafana write variables. */
const variable = (name: string) => "$" + "{" + name + "}";

describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const stages = text
    .split(/^FROM /m)
    .slice(1)
    .map((s) => s.split("\n")[0]!.trim());

  it("builds cpu (default) and cuda targets from a build stage", () => {
    expect(stages).toEqual([
      `${variable("NODE_IMAGE")} AS build`,
      `${variable("NODE_IMAGE")} AS cpu`,
      `${variable("CUDA_IMAGE")} AS cuda`,
      "cpu",
    ]);
  });

  it("runs the package's bin as a non-root user on the chart's port", () => {
    const pkg = JSON.parse(read("package.json")) as { bin: { herd: string } };
    const entrypoints = [...text.matchAll(/^ENTRYPOINT (.+)$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
    expect(entrypoints).toHaveLength(2);
    for (const e of entrypoints) expect(e).toEqual(["node", `/app/${pkg.bin.herd}`]);
    expect([...text.matchAll(/^USER (\S+)$/gm)].map((m) => m[1])).toEqual(["node", "herd"]);
    expect([...text.matchAll(/^EXPOSE (\d+)$/gm)].map((m) => m[1])).toEqual(["8000", "8000"]);
    expect(read("deploy/helm/herd/templates/deployment.yaml")).toMatch(/containerPort: 8000/);
  });

  it("copies only files that exist, and the build does not run install scripts before src/ is there", () => {
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    expect(text).toMatch(/npm ci --ignore-scripts/);
    expect(text.indexOf("COPY src ./src")).toBeGreaterThan(text.indexOf("npm ci"));
  });

  it(".dockerignore keeps local state out of the context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    for (const p of ["node_modules", "dist", ".git", "*.gguf"]) expect(ignored).toContain(p);
    for (const p of ["src", "deploy", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"])
      expect(ignored).not.toContain(p);
  });
});

describe("Grafana dashboard", () => {
  const dash = JSON.parse(read("deploy/grafana/herd-dashboard.json")) as {
    uid: string;
    panels: {
      id: number;
      title: string;
      datasource: { uid: string };
      gridPos: { x: number; y: number; w: number; h: number };
      targets: { expr: string; refId: string }[];
    }[];
    templating: { list: { name: string }[] };
  };

  it("queries only metrics herd exports", async () => {
    const exported = new Set(
      (await new ServerMetrics("m").render())
        .split("\n")
        .filter((l) => l.startsWith("# TYPE "))
        .map((l) => l.split(" ")[2]!),
    );
    const used = new Set<string>();
    for (const p of dash.panels)
      for (const t of p.targets)
        for (const m of t.expr.matchAll(/\b((?:vllm|herd):[a-z0-9_]+)/g)) used.add(m[1]!.replace(/_(bucket|sum|count)$/, ""));
    expect(used.size).toBeGreaterThanOrEqual(12);
    for (const m of used) expect(exported, m).toContain(m);
    // The KEDA trigger's metric is among them.
    expect(used).toContain("vllm:num_requests_waiting");
  });

  it("is importable: unique panel ids, datasource and model variables, panels inside the 24-column grid without overlap", () => {
    expect(dash.uid).toBe("herd-serving");
    expect(dash.templating.list.map((v) => v.name)).toEqual(["datasource", "model_name"]);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      expect(p.datasource.uid).toBe(variable("datasource"));
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
      for (const t of p.targets) expect(t.expr).toMatch(/model_name=~"\$model_name"/);
    }
  });
});
