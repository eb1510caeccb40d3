/**
 * `herd compile org/name` against a local HTTP server on 127.0.0.1 that serves the fixture in the
 * Hugging Face Hub's URL layout: `/api/models/{repo}/revision/{rev}?blobs=true` (commit sha, files,
 * sizes, LFS sha256, git blob ids) and `/{repo}/resolve/{commit}/{file}` (LFS files redirected to a
 * CDN path that honours Range requests), with a bearer token required like a gated repository.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileCommand } from "../../src/cli/commands/compile.js";
import { compileCheckpoint } from "../../src/compile/compile.js";
import { resolveCompileSource } from "../../src/compile/source.js";
import { ChecksumMismatchError } from "../../src/storage/blob-store.js";
import { sharedFixture } from "../fixtures/paths.js";

const { path: FIXTURE, present: have } = sharedFixture("llama4-tiny-hf");
const REPO = "meta-llama/Llama-4-Tiny-Test";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "hf_test_token";

interface Served {
  name: string;
  data: Buffer;
  sha256: string;
  blobId: string;
  lfs: boolean;
}

let server: Server;
let endpoint: string;
let dir: string;
let files: Served[] = [];
const log: Array<{ path: string; range?: string }> = [];
let corrupt = false;

function handle(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  log.push({ path: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}) });
  if (url.pathname.startsWith("/cdn/")) {
    // The CDN needs no token (as on the Hub); it honours Range.
    const f = files.find((x) => x.sha256 === url.pathname.slice(5));
    if (!f) return void res.writeHead(404).end();
    let data = f.data;
    if (corrupt) {
      data = Buffer.from(data);
      data[data.length >> 1]! ^= 1;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, { "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${data.length}` });
      return void res.end(data.subarray(start, end + 1));
    }
    res.writeHead(200, { "content-length": data.length });
    return void res.end(data);
  }
  if (req.headers.authorization !== `Bearer ${TOKEN}`)
    return void res.writeHead(401, { "content-type": "application/json" }).end('{"error":"gated"}');
  if (url.pathname === `/api/models/${REPO}/revision/main`) {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(
      JSON.stringify({
        id: REPO,
        sha: COMMIT,
        siblings: [
          ...files.map((f) => ({
            rfilename: f.name,
            size: f.data.length,
            blobId: f.blobId,
            ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
          })),
          { rfilename: "original/consolidated.00.pth", size: 123, blobId: "x", lfs: { sha256: "0".repeat(64), size: 123 } },
          { rfilename: "README.md", size: 5, blobId: "y" },
        ],
      }),
    );
  }
  const prefix = `/${REPO}/resolve/${COMMIT}/`;
  if (url.pathname.startsWith(prefix)) {
    const f = files.find((x) => x.name === url.pathname.slice(prefix.length));
    if (!f) return void res.writeHead(404).end();
    if (f.lfs) return void res.writeHead(302, { location: `/cdn/${f.sha256}` }).end();
    res.writeHead(200, { "content-length": f.data.length });
    return void res.end(f.data);
  }
  res.writeHead(404).end();
}

beforeAll(async () => {
  if (!have) return;
  dir = await mkdtemp(join(tmpdir(), "herd-hub-"));
  for (const name of await readdir(FIXTURE)) {
    const data = await readFile(join(FIXTURE, name));
    files.push({
      name,
      data,
      sha256: createHash("sha256").update(data).digest("hex"),
      blobId: createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex"),
      lfs: name.endsWith(".safetensors"),
    });
  }
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
  files = [];
});

describe.skipIf(!have)("herd compile <hub id>", () => {
  it("without a token, a gated repository fails with a message that says how to pass one", async () => {
    await expect(resolveCompileSource(REPO, { endpoint, cacheDir: join(dir, "hub") })).rejects.toThrow(
      /gated or private: pass --hf-token TOKEN or set HF_TOKEN/,
    );
  });

  it("downloads with the token (parallel ranges via the CDN redirect), verified; compiles the same bytes as the local folder", async () => {
    let total = 0;
    let progressed = 0;
    const src = await resolveCompileSource(REPO, {
      endpoint,
      token: TOKEN,
      cacheDir: join(dir, "hub"),
      partBytes: 1 << 16,
      concurrency: 4,
      onTotal: (n) => (total = n),
      onProgress: (n) => (progressed += n),
    });
    expect(src.source).toMatchObject({ id: REPO, kind: "hub", revision: COMMIT });
    expect(src.dir).toBe(join(dir, "hub", "meta-llama--Llama-4-Tiny-Test", COMMIT));
    expect((await readdir(src.dir)).filter((f) => !f.startsWith(".")).sort()).toEqual(files.map((f) => f.name).sort());
    expect(total).toBe(files.reduce((n, f) => n + f.data.length, 0));
    expect(progressed).toBe(total);
    const ranged = log.filter((l) => l.path.startsWith("/cdn/") && l.range);
    expect(ranged.length).toBeGreaterThan(40); // 2.8 MB in 64 KiB ranges
    expect(log.some((l) => l.path.includes("original/"))).toBe(false);

    const fromHub = await compileCheckpoint(src.dir, join(dir, "out-hub"), { quant: "F16", name: "hf", source: src.source });
    const local = await compileCheckpoint(FIXTURE, join(dir, "out-local"), { quant: "F16", name: "hf" });
    expect(fromHub.manifest.files.map((f) => f.sha256)).toEqual(local.manifest.files.map((f) => f.sha256));
    expect(fromHub.manifest.source).toMatchObject({ id: REPO, kind: "hub", revision: COMMIT });
    const weights = fromHub.manifest.source.files.find((f) => f.path === "model.safetensors")!;
    expect(weights.sha256).toBe(files.find((f) => f.name === "model.safetensors")!.sha256);
  });

  it("the CLI path: a second run downloads nothing and skips the compile", async () => {
    const env = { HF_TOKEN: TOKEN, HF_ENDPOINT: endpoint };
    const opts = { out: join(dir, "cli-out"), quant: "F16" as const, cacheDir: dir, progress: false };
    const first = await compileCommand(REPO, opts, env);
    expect(first.skipped).toBe(false);
    expect(first.manifest.model.name).toBe(REPO);
    const before = log.length;
    const second = await compileCommand(REPO, opts, env);
    expect(second.skipped).toBe(true);
    expect(log.slice(before).map((l) => l.path)).toEqual([`/api/models/${REPO}/revision/main`]);
  });

  it("bytes that do not match the Hub's LFS sha256 are refused", async () => {
    corrupt = true;
    try {
      await expect(resolveCompileSource(REPO, { endpoint, token: TOKEN, cacheDir: join(dir, "hub-corrupt") })).rejects.toBeInstanceOf(
        ChecksumMismatchError,
      );
    } finally {
      corrupt = false;
    }
  });
});
