/**
 * Neuron compiled artifacts on a real S3 (the Ceph RGW of s3.test.ts, which calls this): a fake NxD
 * Inference folder (nested, a few MB) through `herd artifacts push` and `pull` processes, identical
 * bytes back; a corrupted object refused by `herd artifacts pull` and by the chart's staging script,
 * nothing served; the chart's staging command rendered by helm and run here with `sh` and the AWS
 * CLI (`aws s3 sync`) — staged, verified, resumed, kept on a rerun, a settings mismatch failing before
 * any data moves; and the compile Job's describe + publish steps producing what herd pulls.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullArtifact } from "../../src/compile/artifacts.js";
import { MANIFEST_FILE, readAnyManifest, verifyAnyArtifact } from "../../src/compile/manifest.js";
import { STAGED_MARKER } from "../../src/compile/neuron-artifact.js";
import { ChecksumMismatchError } from "../../src/storage/blob-store.js";
import { readBlob } from "../../src/storage/download.js";
import type { S3BlobStore } from "../../src/storage/s3-store.js";
import type { S3Settings } from "../../src/storage/store-url.js";
import {
  neuronValues,
  type RenderedNeuronChart,
  renderNeuronChart,
  renderStaging,
  runContainer,
  vllmCheckpointValues,
  writeScripts,
} from "../deploy/neuron-chart.js";
import { makeFakeNeuronFolder } from "../fixtures/neuron-artifact.js";
import type { TestS3 } from "./s3-server.js";
import { hasCommand, type RunResult, runProcess } from "../fixtures/process.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const REPO = join(import.meta.dirname, "../..");

function hasAwsCli(): boolean {
  try {
    execFileSync("aws", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI === "true") throw new Error("the AWS CLI is missing (.ci/run installs Debian's awscli)");
    console.warn("skipping the chart staging tests: no AWS CLI (apt-get install awscli)");
    return false;
  }
}

export interface NeuronS3Context {
  readonly s3: TestS3 | null;
  readonly bucket: string;
  readonly settings: () => S3Settings;
  readonly storeAt: (prefix: string) => S3BlobStore;
}

/** `herd …` as a process, with the test S3 in its environment. */
function herdCli(s3: TestS3, args: string[]): Promise<RunResult> {
  return runProcess([process.execPath, "--import", "tsx", "src/cli/main.ts", ...args, "--no-progress"], {
    cwd: REPO,
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
    },
  });
}

/** Every file of `a` equals the same path in `b`. */
async function expectSameFiles(a: string, b: string, paths: readonly string[]): Promise<void> {
  for (const p of paths) expect(sha(await readFile(join(b, p))), p).toBe(sha(await readFile(join(a, p))));
}

export function runNeuronArtifactS3Tests(ctx: NeuronS3Context): void {
  const { s3, bucket } = ctx;
  const awsCli = s3 !== null && hasAwsCli();
  let root: string;
  let src: string;
  let data: string[];
  let scripts: string;
  let chart: RenderedNeuronChart;
  const location = `s3://${bucket}/neuron/scout-trn2`;
  // The pod's environment for the AWS CLI: the rendered container env, plus the test S3's endpoint and keys.
  const awsEnv = () => ({
    ...process.env,
    AWS_ENDPOINT_URL: undefined,
    AWS_ENDPOINT_URL_S3: s3!.endpoint,
    AWS_ACCESS_KEY_ID: s3!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
    AWS_REGION: s3!.region,
  });
  const stage = (dest: string, c = chart) => runContainer(c.stage, { "/herd/scripts": scripts, "/artifacts": dest }, awsEnv());

  beforeAll(async () => {
    if (!s3) return;
    root = await mkdtemp(join(tmpdir(), "herd-neuron-s3-"));
    src = join(root, "compiled");
    data = await makeFakeNeuronFolder(src, { tpDegree: 64, seqLen: 16384, modelMiB: 3 });
    chart = await renderNeuronChart(neuronValues(location, { endpoint: s3.endpoint }));
    scripts = join(root, "scripts");
    await writeScripts(chart, scripts);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe.skipIf(!s3)("Neuron artifacts on S3 (Ceph RGW)", () => {
    it("herd artifacts push describes a Neuron compiled folder and uploads it; herd artifacts pull gives identical bytes", async () => {
      const pushed = await herdCli(s3!, ["artifacts", "push", src, location]);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.stdout).toMatch(/pushed .* 9 file\(s\)/);
      expect(pushed.stdout).toMatch(/Neuron artifact of meta-llama\/Llama-4-Scout-17B-16E-Instruct: TP 64, seq len 16384/);
      const m = (await readAnyManifest(src))!;
      const keys = (await ctx.storeAt("neuron/scout-trn2").list()).map((b) => b.key).sort();
      expect(keys).toEqual([MANIFEST_FILE, ...m.files.map((f) => f.path)].sort());
      expect(keys).toContain("weights/tp3_sharded_checkpoint.safetensors");

      const dest = join(root, "pulled");
      const pulled = await herdCli(s3!, ["artifacts", "pull", location, dest]);
      expect(pulled.code, pulled.stderr).toBe(0);
      await expectSameFiles(src, dest, [...data, MANIFEST_FILE, "SHA256SUMS", "herd-compile.env"]);
      expect(existsSync(join(dest, STAGED_MARKER))).toBe(true);
      expect((await verifyAnyArtifact(dest, "full")).kind).toBe("neuron");
    });

    it.skipIf(!awsCli)("the chart's staging command, rendered and run here: staged, verified, resumed, kept on a rerun", async () => {
      const dest = join(root, "staged");
      // A restarted init container finds what it had: a complete file is kept (same inode), not fetched again.
      // (The AWS CLI dates what it downloads with the object's LastModified; an older date counts as in sync.)
      await mkdir(join(dest, ".staging"), { recursive: true });
      await writeFile(join(dest, ".staging", "model.pt"), await readFile(join(src, "model.pt")));
      await utimes(join(dest, ".staging", "model.pt"), new Date("2020-01-01"), new Date("2020-01-01"));
      const inode = (await stat(join(dest, ".staging", "model.pt"))).ino;
      const r = await stage(dest);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/staged s3:\/\/.* into .*: 8 files sha256-verified against SHA256SUMS/);
      await expectSameFiles(src, dest, [...data, MANIFEST_FILE, "SHA256SUMS", "herd-compile.env"]);
      expect((await stat(join(dest, "model.pt"))).ino).toBe(inode);
      expect(existsSync(join(dest, ".staging"))).toBe(false);
      expect(await readFile(join(dest, STAGED_MARKER), "utf8")).toBe(`${sha(await readFile(join(dest, MANIFEST_FILE)))}\n`);
      expect((await verifyAnyArtifact(dest, "full")).kind).toBe("neuron");
      const again = await stage(dest);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/is already staged from/);
      // The vLLM container's check passes on it and says it loads precompiled artifacts.
      const serve = await runContainer(chart.server, { "/herd/scripts": scripts, "/artifacts": dest }, { PATH: process.env.PATH }, (argv) =>
        argv.slice(0, argv.indexOf("serve") + 1).concat(["true"]),
      );
      expect(serve.code, serve.stderr).toBe(0);
      expect(serve.stdout).toMatch(/loading precompiled Neuron artifacts .*staged and sha256-verified in this pod\), no compile/);
    });

    it.skipIf(!awsCli)("backend vllm: the chart stages a Hugging Face checkpoint with the AWS CLI image, no herd image", async () => {
      const prefix = "hf/scout-checkpoint";
      const files: Record<string, Buffer> = {
        "config.json": Buffer.from('{"architectures":["Llama4ForConditionalGeneration"]}'),
        "model-00001-of-00002.safetensors": randomBytes(1 << 20),
        "nested/tokenizer.json": Buffer.from("{}"),
      };
      const store = ctx.storeAt(prefix);
      try {
        for (const [name, bytes] of Object.entries(files)) await store.putBytes(name, bytes);
      } finally {
        await store.close();
      }
      const { stage, scripts: texts } = await renderStaging(vllmCheckpointValues(`s3://${bucket}/${prefix}`, s3!.endpoint));
      expect(stage.image).toMatch(/^public\.ecr\.aws\/aws-cli\/aws-cli:/);
      const dir = join(root, "vllm-scripts");
      await mkdir(dir, { recursive: true });
      for (const [name, text] of Object.entries(texts)) await writeFile(join(dir, name), text);
      const dest = join(root, "staged-checkpoint");
      const r = await runContainer(stage, { "/herd/scripts": dir, "/artifacts": dest }, awsEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/staged s3:\/\/.* 3 files/);
      for (const [name, bytes] of Object.entries(files)) expect((await readFile(join(dest, name))).equals(bytes), name).toBe(true);
      expect(existsSync(join(dest, ".staging"))).toBe(false);
      const again = await runContainer(stage, { "/herd/scripts": dir, "/artifacts": dest }, awsEnv());
      expect(again.stdout).toMatch(/is already staged from/);
    });

    it.skipIf(!awsCli)(
      "settings that differ from the artifact's fail the staging fast, naming both values, before any data moves",
      async () => {
        const c8k = await renderNeuronChart(neuronValues(location, { endpoint: s3!.endpoint, maxModelLen: 8192 }));
        const dest = join(root, "staged-8k");
        const r = await stage(dest, c8k);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/compiled for sequence length 16384, this pod runs vLLM with --max-model-len 8192/);
        expect(existsSync(join(dest, ".staging", "model.pt"))).toBe(false);
        expect(existsSync(join(dest, STAGED_MARKER))).toBe(false);
      },
    );

    it.skipIf(!awsCli)("a corrupted object: herd pull and the chart's staging both refuse it and leave nothing to serve", async () => {
      const store = ctx.storeAt("neuron/scout-trn2");
      const original = await readBlob(store, "weights/tp1_sharded_checkpoint.safetensors");
      await store.putBytes("weights/tp1_sharded_checkpoint.safetensors", randomBytes(original.length));
      try {
        const dest = join(root, "pulled-corrupt");
        const err = await pullArtifact(location, dest, { s3: ctx.settings() }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ChecksumMismatchError);
        expect(String(err)).toContain("weights/tp1_sharded_checkpoint.safetensors");
        expect(existsSync(join(dest, MANIFEST_FILE))).toBe(false);
        expect(existsSync(join(dest, STAGED_MARKER))).toBe(false);

        const staged = join(root, "staged-corrupt");
        const r = await stage(staged);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/weights\/tp1_sharded_checkpoint\.safetensors: FAILED/);
        expect(r.stderr).toMatch(/does not match its SHA256SUMS .* nothing was staged/);
        expect(existsSync(join(staged, STAGED_MARKER))).toBe(false);
        expect(existsSync(join(staged, "model.pt"))).toBe(false);
        // The failed file is gone from the staging folder, so the next try downloads it again.
        expect(existsSync(join(staged, ".staging", "weights/tp1_sharded_checkpoint.safetensors"))).toBe(false);
        const serve = await runContainer(chart.server, { "/herd/scripts": scripts, "/artifacts": staged }, { PATH: process.env.PATH });
        expect(serve.code).toBe(1);
        expect(serve.stderr).toMatch(/holds no compiled model/);
      } finally {
        await store.putBytes("weights/tp1_sharded_checkpoint.safetensors", original);
        await store.close();
      }
    });

    it.skipIf(!awsCli || !hasPython())(
      "the compile Job's describe (python) and publish (AWS CLI) steps produce what herd pulls",
      async () => {
        const scratch = join(root, "scratch");
        await makeFakeNeuronFolder(join(scratch, "out"), { tpDegree: 64, seqLen: 16384 });
        const paths = { "/herd/scripts": scripts, "/scratch": scratch };
        const describe = await runContainer(
          { ...chart.compile, command: ["python3", "/herd/scripts/neuron-manifest.py", "/scratch/out"], args: [] },
          paths,
          { PATH: process.env.PATH },
        );
        expect(describe.code, describe.stderr).toBe(0);
        const published = `s3://${bucket}/neuron/from-compile-job`;
        const push = await runContainer(
          { ...chart.push, command: chart.push.command!.map((a) => (a.startsWith("s3://") ? published : a)) },
          paths,
          awsEnv(),
        );
        expect(push.code, push.stderr).toBe(0);
        expect(push.stdout).toMatch(/published .* herd-manifest\.json last/);
        const dest = join(root, "pulled-from-job");
        const r = await pullArtifact(published, dest, { s3: ctx.settings() });
        expect(r.manifest.kind).toBe("neuron");
        if (r.manifest.kind === "neuron") expect(r.manifest.model).toBe("meta-llama/Llama-4-Scout-17B-16E-Instruct");
        await expectSameFiles(
          join(scratch, "out"),
          dest,
          r.manifest.files.map((f) => f.path),
        );
      },
    );
  });
}

const hasPython = () => hasCommand("python3");
