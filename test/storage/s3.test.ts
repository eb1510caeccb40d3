/**
 * Storage against a real S3 API: Ceph RGW (Debian's radosgw) started by scripts/test-s3.sh for this
 * file only. The BlobStore contract, then artifacts end to end: push (manifest last), pull, re-push
 * skipped, a flipped byte in the store detected and nothing installed, `serve --model s3://…`
 * resolution through the cache, a `herd artifacts pull` process killed mid-transfer and resumed,
 * wrong credentials failing clearly, and the streaming-checksum trap the default SDK mode falls in.
 * Then Neuron compiled artifacts, the chart's staging script included (./neuron-s3.ts).
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileCommand } from "../../src/cli/commands/compile.js";
import { pullArtifact, pushArtifact, readRemoteManifest, resolveServeModel } from "../../src/compile/artifacts.js";
import { compileCheckpoint } from "../../src/compile/compile.js";
import { ArtifactVerificationError, MANIFEST_FILE, writeManifest, type ArtifactManifest } from "../../src/compile/manifest.js";
import { ChecksumMismatchError } from "../../src/storage/blob-store.js";
import { readBlob } from "../../src/storage/download.js";
import { S3BlobStore } from "../../src/storage/s3-store.js";
import type { S3Settings } from "../../src/storage/store-url.js";
import { sharedFixture } from "../fixtures/paths.js";
import { runBlobStoreContract } from "./blob-store-contract.js";
import { runNeuronArtifactS3Tests } from "./neuron-s3.js";
import { startTestS3, stopTestS3 } from "./s3-server.js";

const s3 = await startTestS3();
const BUCKET = "herd-test";
const { path: FIXTURE, present: haveFixture } = sharedFixture("llama4-tiny-hf");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const settings = (): S3Settings => ({
  endpoint: s3!.endpoint,
  region: s3!.region,
  forcePathStyle: true,
  checksum: "when_required",
  credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: s3!.secretAccessKey },
  partBytes: 5 * 1024 * 1024,
});
const storeAt = (prefix: string) => new S3BlobStore({ ...settings(), bucket: BUCKET, prefix });

afterAll(async () => {
  if (s3) await stopTestS3();
});

if (s3) {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();

  runBlobStoreContract("s3 (Ceph RGW)", async () => {
    const store = storeAt(`contract-${randomBytes(4).toString("hex")}`);
    return {
      store,
      cleanup: async () => {
        for (const b of await store.list()) await store.delete(b.key);
      },
    };
  });
}

describe.skipIf(!s3)("S3 specifics (Ceph RGW)", () => {
  it("stores multipart uploads with an S3-style ETag and the exact size", async () => {
    const store = storeAt("multipart");
    const dir = await mkdtemp(join(tmpdir(), "herd-s3-mp-"));
    const data = randomBytes(11 * 1024 * 1024);
    await writeFile(join(dir, "f.bin"), data);
    await store.putFile("f.bin", join(dir, "f.bin"), { metadata: { sha256: sha(data) } });
    const info = await store.head("f.bin");
    expect(info?.bytes).toBe(data.length);
    expect(info?.etag).toMatch(/-3"?$/);
    expect(sha(await readBlob(store, "f.bin"))).toBe(sha(data));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("wrong credentials, a missing bucket and a dead endpoint fail with messages that say what to fix", async () => {
    const bad = new S3BlobStore({
      ...settings(),
      credentials: { accessKeyId: s3!.accessKeyId, secretAccessKey: "wrong-secret" },
      bucket: BUCKET,
    });
    await expect(bad.head("x")).rejects.toThrow(/refused the credentials.*AWS_SECRET_ACCESS_KEY/);
    await bad.close();
    const noBucket = new S3BlobStore({ ...settings(), bucket: "no-such-bucket-herd" });
    await expect(noBucket.putBytes("x", Buffer.from("x"))).rejects.toThrow(/bucket no-such-bucket-herd does not exist/);
    await noBucket.close();
    const dead = new S3BlobStore({ ...settings(), endpoint: "http://127.0.0.1:1", maxAttempts: 1, bucket: BUCKET });
    await expect(dead.head("x")).rejects.toThrow(/cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:1/);
    await dead.close();
  });

  it("the streaming-checksum trap: a streamed PutObject under the SDK's default checksums is refused by RGW", async () => {
    const sdkDefault = new S3Client({
      endpoint: s3!.endpoint,
      region: s3!.region,
      forcePathStyle: true,
      credentials: settings().credentials,
    });
    const body = randomBytes(1 << 20);
    await expect(
      sdkDefault.send(new PutObjectCommand({ Bucket: BUCKET, Key: "trap/streamed.bin", Body: Readable.from([body]) })),
    ).rejects.toThrow();
    sdkDefault.destroy();
    // herd's store (when_required) streams fine and stores the exact bytes.
    const store = storeAt("trap");
    const dir = await mkdtemp(join(tmpdir(), "herd-s3-trap-"));
    await writeFile(join(dir, "b.bin"), body);
    await store.putFile("streamed.bin", join(dir, "b.bin"));
    expect((await store.head("streamed.bin"))?.bytes).toBe(body.length);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!s3 || !haveFixture)("artifacts on S3 (Ceph RGW)", () => {
  let dir: string;
  let art: string;
  const location = `s3://${BUCKET}/artifacts/tiny`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "herd-s3-art-"));
    art = join(dir, "art");
    await compileCheckpoint(FIXTURE, art, { quant: "F16", name: "hf" });
    await storeAt("artifacts/tiny").delete(MANIFEST_FILE);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("push uploads data first and the manifest last; pull verifies; re-push skips", async () => {
    const store = storeAt("artifacts/tiny");
    const pushed = await pushArtifact(art, location, { s3: settings() });
    expect((await store.list()).map((b) => b.key).sort()).toEqual([MANIFEST_FILE, ...pushed.manifest.files.map((f) => f.path)].sort());
    // Replacing it with another artifact: while data moves, readers find no manifest.
    const other = join(dir, "art-bf16");
    await compileCheckpoint(FIXTURE, other, { quant: "BF16", name: "hf" });
    let during: Promise<unknown> | null = null;
    await pushArtifact(other, location, { s3: settings(), onProgress: () => void (during ??= store.head(MANIFEST_FILE)) });
    expect(await during).toBeNull();
    expect(JSON.parse((await readBlob(store, MANIFEST_FILE)).toString()).quantization).toBe("BF16");
    await pushArtifact(art, location, { s3: settings() });

    const pulled = await pullArtifact(location, join(dir, "pulled"), { s3: settings() });
    expect(pulled.sync.transferredFiles).toHaveLength(2);
    expect(await readFile(join(dir, "pulled", MANIFEST_FILE), "utf8")).toBe(await readFile(join(art, MANIFEST_FILE), "utf8"));
    for (const f of pulled.manifest.files) expect(sha(await readFile(join(dir, "pulled", f.path)))).toBe(f.sha256);
    const again = await pushArtifact(art, location, { s3: settings() });
    expect(again.sync.transferredBytes).toBe(0);
    expect(again.sync.skippedFiles).toHaveLength(2);
    await store.close();
  });

  it("serve --model s3://… pulls into the cache and returns the GGUF and mmproj paths; names resolve under --artifacts", async () => {
    await pushArtifact(art, location, { s3: settings() });
    const cacheDir = join(dir, "cache");
    const m = await resolveServeModel(location, { cacheDir, s3: settings() });
    expect(m.ggufPath.startsWith(cacheDir)).toBe(true);
    expect(m.ggufPath).toMatch(/\/hf-F16\.gguf$/);
    expect(m.mmprojPath).toMatch(/\/mmproj-hf-F16\.gguf$/);
    const byName = await resolveServeModel("tiny", { artifacts: `s3://${BUCKET}/artifacts`, cacheDir, s3: settings() });
    expect(byName.ggufPath).toBe(m.ggufPath);
  });

  it("herd compile --out s3://… builds in a staging folder and pushes; a second run is a no-op", async () => {
    const env = {
      AWS_ENDPOINT_URL: s3!.endpoint,
      AWS_ACCESS_KEY_ID: s3!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
      AWS_REGION: s3!.region,
    };
    const out = `s3://${BUCKET}/artifacts/via-compile`;
    const opts = { out, quant: "F16" as const, name: "hf", cacheDir: join(dir, "compile-cache"), progress: false };
    expect((await compileCommand(FIXTURE, opts, env)).skipped).toBe(false);
    const remote = await readRemoteManifest(out, settings());
    expect(remote.files.map((f) => f.sha256)).toEqual(
      (await compileCheckpoint(FIXTURE, join(dir, "cmp"), { quant: "F16", name: "hf" })).manifest.files.map((f) => f.sha256),
    );
    expect((await compileCommand(FIXTURE, opts, env)).skipped).toBe(true);
  });

  it("a flipped byte in the store is detected on pull; nothing is installed and serve refuses the folder", async () => {
    const store = storeAt("artifacts/tiny");
    const model = (await pullArtifact(location, join(dir, "ok"), { s3: settings() })).manifest.files[0]!;
    const original = await readBlob(store, model.path);
    const flipped = Buffer.from(original);
    flipped[flipped.length >> 1]! ^= 0x01;
    await store.putBytes(model.path, flipped, { metadata: { sha256: model.sha256 } });
    try {
      const dest = join(dir, "flipped");
      const err = await pullArtifact(location, dest, { s3: settings() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChecksumMismatchError);
      expect(String(err)).toContain(model.path);
      expect(existsSync(join(dest, model.path))).toBe(false);
      expect(existsSync(join(dest, MANIFEST_FILE))).toBe(false);
      await expect(resolveServeModel(dest)).rejects.toBeInstanceOf(ArtifactVerificationError);
    } finally {
      await store.putBytes(model.path, original, { metadata: { sha256: model.sha256 } });
      await store.close();
    }
  });

  it("a `herd artifacts pull` process killed mid-transfer resumes with the parts it had", async () => {
    const big = randomBytes(96 * 1024 * 1024);
    const src = join(dir, "big-art");
    await mkdir(src, { recursive: true });
    await writeFile(join(src, "model.gguf"), big);
    const manifest = {
      format: "herd-artifact",
      formatVersion: 1,
      files: [{ path: "model.gguf", role: "model", bytes: big.length, sha256: sha(big), type: "F16" }],
    } as unknown as ArtifactManifest;
    await writeManifest(src, manifest);
    const bigLocation = `s3://${BUCKET}/artifacts/big`;
    await pushArtifact(src, bigLocation, { s3: settings() });

    const dest = join(dir, "big-pulled");
    const state = join(dest, "model.gguf.part.json");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "artifacts",
        "pull",
        bigLocation,
        dest,
        "--part-size",
        "1",
        "--concurrency",
        "1",
        "--no-progress",
      ],
      {
        cwd: join(import.meta.dirname, "../.."),
        env: {
          ...process.env,
          AWS_ENDPOINT_URL: s3!.endpoint,
          AWS_ACCESS_KEY_ID: s3!.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
          AWS_REGION: s3!.region,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let parts = 0;
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      try {
        parts = (JSON.parse(await readFile(state, "utf8")) as { done: number[] }).done.length;
      } catch {
        /* not written yet */
      }
      if (parts >= 4) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGKILL");
    await exited;
    expect(parts, `the pull finished before it could be killed (stderr: ${stderr})`).toBeGreaterThanOrEqual(4);
    expect(existsSync(join(dest, MANIFEST_FILE))).toBe(false);
    await expect(resolveServeModel(dest)).rejects.toThrow(/no herd-manifest\.json/);

    const r = await pullArtifact(bigLocation, dest, { s3: settings(), partBytes: 1024 * 1024 });
    expect(r.sync.resumedBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(r.sync.transferredBytes).toBe(big.length - r.sync.resumedBytes);
    expect(sha(await readFile(join(dest, "model.gguf")))).toBe(sha(big));
    expect((await resolveServeModel(dest, { verify: "full" })).ggufPath).toBe(join(dest, "model.gguf"));
  });
});

runNeuronArtifactS3Tests({ s3, bucket: BUCKET, settings, storeAt });
