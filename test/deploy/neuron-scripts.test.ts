/**
 * The chart's Neuron artifact scripts, rendered by the real helm and run here (no S3: the staging
 * and publishing half runs against Ceph RGW in test/storage/s3.test.ts):
 * - the compile Job's writer (files/neuron-manifest.py, in the vLLM image) writes what herd reads,
 *   byte for byte what herd's own writer writes, and refuses settings the chart did not ask for;
 * - the vLLM container's `serve` step execs vLLM on matching artifacts and says so, and fails fast,
 *   naming both values, on a TP degree or sequence length vLLM would recompile for, or on a folder
 *   with no compiled model.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushArtifact } from "../../src/compile/artifacts.js";
import { MANIFEST_FILE, verifyAnyArtifact } from "../../src/compile/manifest.js";
import { COMPILE_ENV_FILE, describeNeuronArtifact, SHA256SUMS_FILE } from "../../src/compile/neuron-artifact.js";
import { makeFakeNeuronFolder } from "../fixtures/neuron-artifact.js";
import { neuronValues, type RenderedNeuronChart, renderNeuronChart, runContainer, writeScripts } from "./neuron-chart.js";
import { hasCommand } from "../fixtures/process.js";

const run = promisify(execFile);
const has = hasCommand;
const PATH = { PATH: process.env.PATH };

let root: string;
let chart: RenderedNeuronChart;
let scripts: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "herd-neuron-scripts-"));
  chart = await renderNeuronChart(neuronValues("s3://models/llama4/scout-trn2"));
  scripts = join(root, "scripts");
  await writeScripts(chart, scripts);
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("the rendered chart wires the scripts without a herd image", () => {
  it("staging and publishing run in the AWS CLI image; compile and serve in the vLLM image", () => {
    expect(Object.keys(chart.scripts).sort()).toEqual(["neuron-artifacts.sh", "neuron-manifest.py"]);
    expect(chart.stage.image).toMatch(/^public\.ecr\.aws\/aws-cli\/aws-cli:2\.\d+\.\d+/);
    expect(chart.stage.command).toEqual([
      "sh",
      "/herd/scripts/neuron-artifacts.sh",
      "stage",
      "s3://models/llama4/scout-trn2",
      "/artifacts",
    ]);
    expect(chart.push.image).toBe(chart.stage.image);
    expect(chart.push.command).toEqual([
      "sh",
      "/herd/scripts/neuron-artifacts.sh",
      "publish",
      "/scratch/out",
      "s3://models/llama4/scout-trn2",
    ]);
    expect(chart.server.command!.slice(0, 4)).toEqual(["sh", "/herd/scripts/neuron-artifacts.sh", "serve", "python3"]);
    expect(chart.compile.command!.join("\n")).toContain('python3 /herd/scripts/neuron-manifest.py "$NEURON_COMPILED_ARTIFACTS"');
    const env = (c: typeof chart.stage) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    expect(env(chart.stage)).toMatchObject({ HERD_EXPECT_TP_DEGREE: "64", HERD_EXPECT_SEQ_LEN: "16384" });
    expect(env(chart.compile)).toMatchObject({ NEURON_COMPILED_ARTIFACTS: "/scratch/out", HERD_EXPECT_TP_DEGREE: "64" });
    expect((chart.compile.env ?? []).filter((e) => e.name === "NEURON_COMPILED_ARTIFACTS")).toHaveLength(1);
    for (const o of chart.objects) expect(JSON.stringify(o)).not.toMatch(/"image":"herd:/);
  });
});

describe("the vLLM container's artifact check (neuron-artifacts.sh serve)", () => {
  // vLLM itself is replaced by echo: what matters is whether the script execs it, and with what.
  const asEcho = (argv: string[]) =>
    argv.map((a, i) => (argv[i - 1] === "serve" ? "echo" : a)).filter((a) => a !== "-m" && !a.startsWith("vllm."));
  const serve = (dir: string, c = chart) => runContainer(c.server, { "/herd/scripts": scripts, "/artifacts": dir }, PATH, asEcho);

  it("execs vLLM on artifacts compiled for its TP degree and max model length, and says it loads them", async () => {
    const dir = join(root, "ok");
    await makeFakeNeuronFolder(dir, { tpDegree: 64, seqLen: 16384 });
    await describeNeuronArtifact(dir);
    const r = await serve(dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /loading precompiled Neuron artifacts from .*ok \(--tensor-parallel-size 64, --max-model-len 16384; not verified/,
    );
    expect(r.stdout).toMatch(/^--model meta-llama\/Llama-4-Scout-17B-16E-Instruct .*--tensor-parallel-size 64 --max-model-len 16384/m);
  });

  it("fails fast, naming both values, when the artifact was compiled for another sequence length or TP degree", async () => {
    const dir = join(root, "other-settings");
    await makeFakeNeuronFolder(dir, { tpDegree: 32, seqLen: 8192 });
    await describeNeuronArtifact(dir);
    const r = await serve(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/--model/); // vLLM never started
    expect(r.stderr).toMatch(/compiled for TP degree 32, this pod runs vLLM with --tensor-parallel-size 64/);
    expect(r.stderr).toMatch(/compiled for sequence length 8192, this pod runs vLLM with --max-model-len 16384/);
    expect(r.stderr).toMatch(/vLLM would recompile/);
    // The same artifact suits a chart rendered with its settings (--max-model-len from the values).
    const c8k = await renderNeuronChart(neuronValues("s3://models/llama4/scout-trn2", { maxModelLen: 8192 }));
    expect((await serve(dir, c8k)).stderr).not.toMatch(/sequence length/);
  });

  it("refuses a folder with no compiled model instead of letting vLLM compile for an hour", async () => {
    const dir = join(root, "empty");
    await mkdir(dir, { recursive: true });
    const r = await serve(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds no compiled model \(model\.pt, neuron_config\.json\): vLLM would compile/);
  });
});

describe.skipIf(!has("python3"))("the compile Job's writer (files/neuron-manifest.py, rendered)", () => {
  const describeWithPython = (dir: string, env: Record<string, string>) =>
    runContainer(
      { name: "compile", image: "", command: ["python3", "/herd/scripts/neuron-manifest.py", dir] },
      { "/herd/scripts": scripts },
      { ...PATH, ...env },
    );

  it("writes what herd reads: the same files, hashes, settings, herd-compile.env and SHA256SUMS as herd's writer", async () => {
    const dir = join(root, "by-python");
    await makeFakeNeuronFolder(dir, { tpDegree: 32, seqLen: 8192, batchSize: 4 });
    const r = await describeWithPython(dir, { HERD_MODEL: "meta-llama/Llama-4-Scout-17B-16E-Instruct", HERD_EXPECT_TP_DEGREE: "32" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/described .*TP 32, seq len 8192/);
    const py = await verifyAnyArtifact(dir, "full");
    const pyText = { env: await readFile(join(dir, COMPILE_ENV_FILE), "utf8"), sums: await readFile(join(dir, SHA256SUMS_FILE), "utf8") };
    if (has("sha256sum")) await run("sha256sum", ["-c", "--strict", "--quiet", SHA256SUMS_FILE], { cwd: dir });
    // herd pushes what the compile Job described without rewriting it.
    expect((await pushArtifact(dir, join(root, "by-python-store"))).manifest).toEqual(py);
    await rm(join(dir, MANIFEST_FILE));
    const ts = await describeNeuronArtifact(dir);
    expect(py.kind).toBe("neuron");
    if (py.kind !== "neuron") return;
    expect(py.files).toEqual(ts.files);
    expect({ ...py.neuron, sdk: {} }).toEqual(ts.neuron);
    expect(py.model).toBe(ts.model);
    expect(await readFile(join(dir, COMPILE_ENV_FILE), "utf8")).toBe(pyText.env);
    expect(await readFile(join(dir, SHA256SUMS_FILE), "utf8")).toBe(pyText.sums);
  });

  it("refuses a compiled folder whose settings differ from what the chart asked vLLM for", async () => {
    const dir = join(root, "by-python-mismatch");
    await makeFakeNeuronFolder(dir, { tpDegree: 32, seqLen: 8192 });
    const r = await describeWithPython(dir, { HERD_EXPECT_TP_DEGREE: "64", HERD_EXPECT_SEQ_LEN: "8192" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TP degree 32, the chart asked for 64/);
    expect(existsSync(join(dir, MANIFEST_FILE))).toBe(false);
  });
});
