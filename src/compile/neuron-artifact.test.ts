import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFakeNeuronFolder } from "../../test/fixtures/neuron-artifact.js";
import { ChecksumMismatchError } from "../storage/blob-store.js";
import { pullArtifact, pushArtifact, resolveServeModel } from "./artifacts.js";
import { MANIFEST_FILE, readAnyManifest, readManifest, sha256Of, verifyAnyArtifact, verifyArtifact } from "./manifest.js";
import { COMPILE_ENV_FILE, describeNeuronArtifact, SHA256SUMS_FILE, STAGED_MARKER } from "./neuron-artifact.js";
import { hasCommand } from "../../test/fixtures/process.js";

const run = promisify(execFile);
const has = hasCommand;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "herd-neuron-"));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe("Neuron compiled folders as herd artifacts", () => {
  it("push describes the folder (manifest, herd-compile.env, SHA256SUMS); pull gives identical bytes and the staged marker", async () => {
    const src = join(root, "compiled");
    const data = await makeFakeNeuronFolder(src, { tpDegree: 64, seqLen: 16384 });
    const store = join(root, "store");
    const pushed = await pushArtifact(src, store);
    const m = pushed.manifest;
    expect(m.kind).toBe("neuron");
    if (m.kind !== "neuron") return;
    expect(m.files.map((f) => f.path)).toEqual([...data, COMPILE_ENV_FILE, SHA256SUMS_FILE]);
    expect(m.model).toBe("meta-llama/Llama-4-Scout-17B-16E-Instruct");
    expect(m.neuron).toMatchObject({ tpDegree: 64, seqLen: 16384, maxContextLength: 16384, batchSize: 1, logicalNcConfig: 2 });
    expect(m.neuron.contextEncodingBuckets).toEqual([256, 512, 1024, 2048, 4096, 8192, 10240, 16384]);
    expect(await readFile(join(src, COMPILE_ENV_FILE), "utf8")).toMatch(/^HERD_NEURON_TP_DEGREE=64\nHERD_NEURON_SEQ_LEN=16384\n/m);
    if (has("sha256sum")) await run("sha256sum", ["-c", "--strict", "--quiet", SHA256SUMS_FILE], { cwd: src });
    expect((await readFile(join(src, SHA256SUMS_FILE), "utf8")).split("\n").filter(Boolean)).toHaveLength(data.length + 1);
    expect(existsSync(join(store, MANIFEST_FILE))).toBe(true);

    const dest = join(root, "pulled");
    const pulled = await pullArtifact(store, dest);
    for (const f of m.files) expect(sha256Of(await readFile(join(dest, f.path))), f.path).toBe(sha256Of(await readFile(join(src, f.path))));
    const text = await readFile(join(dest, MANIFEST_FILE), "utf8");
    expect(await readFile(join(dest, STAGED_MARKER), "utf8")).toBe(`${sha256Of(text)}\n`);
    expect(pulled.sync.transferredFiles).toHaveLength(m.files.length);
    expect((await verifyAnyArtifact(dest, "full")).kind).toBe("neuron");
    // A second push finds the manifest, verifies it and skips every file.
    const again = await pushArtifact(src, store);
    expect(again.sync.transferredBytes).toBe(0);
  });

  it("herd's own readers (serve, compile) refuse it by name; a changed file is refused with its path", async () => {
    const dir = join(root, "pulled");
    await expect(readManifest(dir)).rejects.toThrow(/describes a Neuron compiled artifact/);
    await expect(verifyArtifact(dir, "full")).rejects.toThrow(/not a herd \(GGUF\) artifact/);
    await expect(resolveServeModel(dir)).rejects.toThrow(/Neuron compiled artifact/);
    const copy = join(root, "tampered");
    await cp(dir, copy, { recursive: true });
    const shard = join(copy, "weights/tp2_sharded_checkpoint.safetensors");
    const bytes = await readFile(shard);
    bytes[100]! ^= 0xff;
    await writeFile(shard, bytes);
    await expect(verifyAnyArtifact(copy, "full")).rejects.toThrow(/weights\/tp2_sharded_checkpoint\.safetensors: sha256 .* \(corrupted/);
    await expect(pushArtifact(copy, join(root, "store-2"))).rejects.toThrow(/delete .*herd-manifest\.json and push again/);
  });

  it("a folder that is neither herd nor Neuron is refused unless --kind neuron; --kind herd wants a manifest", async () => {
    const dir = join(root, "plain");
    await mkdir(join(dir, "sub"), { recursive: true });
    await writeFile(join(dir, "sub", "notes.txt"), "hello");
    await expect(pushArtifact(dir, join(root, "store-plain"))).rejects.toThrow(
      /not a compiled artifact herd knows.*no herd-manifest\.json.*neuron_config\.json.*--kind neuron/,
    );
    await expect(pushArtifact(dir, join(root, "store-plain"), { kind: "herd" })).rejects.toThrow(/not a herd artifact/);
    const forced = await pushArtifact(dir, join(root, "store-plain"), { kind: "neuron" });
    expect(forced.manifest.kind).toBe("neuron");
    if (forced.manifest.kind === "neuron") expect(forced.manifest.neuron.tpDegree).toBeNull();
    expect(await readFile(join(dir, COMPILE_ENV_FILE), "utf8")).not.toMatch(/TP_DEGREE/);
    await expect(pushArtifact(dir, join(root, "store-plain"), { kind: "herd" })).rejects.toThrow(/describes a neuron artifact, not herd/);
  });

  it("a corrupted object in the store: pull refuses it and leaves no manifest and no staged marker", async () => {
    const src = join(root, "compiled-2");
    await makeFakeNeuronFolder(src, { modelMiB: 1 });
    const store = join(root, "store-corrupt");
    await pushArtifact(src, store);
    await pullArtifact(store, join(root, "pulled-2"));
    await writeFile(join(store, "model.pt"), randomBytes(1024 * 1024));
    // The folder pulled before keeps its verified copy; a new one gets nothing it could serve.
    await pullArtifact(store, join(root, "pulled-2"));
    const dest = join(root, "pulled-3");
    const err = await pullArtifact(store, dest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(String(err)).toContain("model.pt");
    expect(existsSync(join(dest, MANIFEST_FILE))).toBe(false);
    expect(existsSync(join(dest, STAGED_MARKER))).toBe(false);
  });

  it("describing twice gives the same files and hashes (the manifest is herd's, not the data's)", async () => {
    const dir = join(root, "compiled");
    const first = (await readAnyManifest(dir))!;
    await rm(join(dir, MANIFEST_FILE));
    const second = await describeNeuronArtifact(dir);
    expect(second.files).toEqual(first.files);
  });
});
