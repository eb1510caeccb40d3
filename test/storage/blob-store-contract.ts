/**
 * The BlobStore contract: every implementation (fs, S3) runs these same cases — existence, byte
 * and range reads, replacement, listing, deletion, key checks, and the download/sync machinery on
 * top (parallel ranged download, checksum refusal, resume after an interruption, skip on re-push /
 * re-pull).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobNotFoundError, ChecksumMismatchError, type BlobStore } from "../../src/storage/blob-store.js";
import { downloadBlob, readBlob } from "../../src/storage/download.js";
import { pullFiles, pushFiles } from "../../src/storage/sync.js";

export interface StoreHandle {
  readonly store: BlobStore;
  /** Removes everything the store holds (called once at the end). */
  readonly cleanup: () => Promise<void>;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function streamBytes(store: BlobStore, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.getStream(key, range)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function runBlobStoreContract(name: string, open: () => Promise<StoreHandle>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let h: StoreHandle;
    let store: BlobStore;
    let tmp: string;
    // 12 MiB: several multipart parts on S3 (5 MiB parts) and several download ranges.
    const big = randomBytes(12 * 1024 * 1024 + 123);

    beforeAll(async () => {
      h = await open();
      store = h.store;
      tmp = await mkdtemp(join(tmpdir(), "herd-contract-"));
      await writeFile(join(tmp, "big.bin"), big);
    });
    afterAll(async () => {
      await h?.cleanup();
      await store?.close();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it("reports missing blobs as null / BlobNotFoundError", async () => {
      expect(await store.head("nope/missing.bin")).toBeNull();
      await expect(store.getStream("nope/missing.bin")).rejects.toBeInstanceOf(BlobNotFoundError);
      await store.delete("nope/missing.bin"); // no error
    });

    it("stores bytes with metadata and reads them back whole and by range", async () => {
      const data = Buffer.from("hello, blob store ✓");
      await store.putBytes("a/small.txt", data, { metadata: { sha256: sha(data) } });
      const info = await store.head("a/small.txt");
      expect(info).toMatchObject({ key: "a/small.txt", bytes: data.length, metadata: { sha256: sha(data) } });
      expect(await streamBytes(store, "a/small.txt")).toEqual(data);
      expect(await streamBytes(store, "a/small.txt", { start: 7, end: 12 })).toEqual(data.subarray(7, 12));
      expect(await streamBytes(store, "a/small.txt", { start: 3, end: 3 })).toHaveLength(0);
    });

    it("uploads a multi-part file, counts progress, and replaces content (etag changes)", async () => {
      let progressed = 0;
      await store.putFile("a/big.bin", join(tmp, "big.bin"), { metadata: { sha256: sha(big) }, onProgress: (n) => (progressed += n) });
      expect(progressed).toBe(big.length);
      const first = await store.head("a/big.bin");
      expect(first?.bytes).toBe(big.length);
      expect(first?.metadata.sha256).toBe(sha(big));
      const tail = await streamBytes(store, "a/big.bin", { start: big.length - 1000, end: big.length });
      expect(tail).toEqual(big.subarray(big.length - 1000));
      const other = Buffer.from("replaced");
      await writeFile(join(tmp, "other.bin"), other);
      await store.putFile("a/replaced.bin", join(tmp, "big.bin"));
      const before = await store.head("a/replaced.bin");
      await new Promise((r) => setTimeout(r, 20));
      await store.putFile("a/replaced.bin", join(tmp, "other.bin"));
      const after = await store.head("a/replaced.bin");
      expect(after?.bytes).toBe(other.length);
      expect(after?.etag).not.toBe(before?.etag);
      expect(await streamBytes(store, "a/replaced.bin")).toEqual(other);
    });

    it("lists by prefix, sorted, recursively; deletes", async () => {
      await store.putBytes("list/x/2.bin", Buffer.from("2"));
      await store.putBytes("list/x/1.bin", Buffer.from("1"));
      await store.putBytes("list/y.bin", Buffer.from("y"));
      expect((await store.list("list/")).map((b) => b.key)).toEqual(["list/x/1.bin", "list/x/2.bin", "list/y.bin"]);
      expect((await store.list("list/x/")).map((b) => [b.key, b.bytes])).toEqual([
        ["list/x/1.bin", 1],
        ["list/x/2.bin", 1],
      ]);
      await store.delete("list/y.bin");
      expect(await store.head("list/y.bin")).toBeNull();
      expect((await store.list("list/")).length).toBe(2);
    });

    it("rejects keys that escape the root", async () => {
      for (const bad of ["../x", "/abs", "a//b", "a/./b", ""])
        await expect(store.putBytes(bad, Buffer.from("x"))).rejects.toThrow(/invalid blob key/);
    });

    it("downloads in parallel ranges and checks the sha256 before installing", async () => {
      const dest = join(tmp, "dl", "big.bin");
      let progressed = 0;
      const r = await downloadBlob(store, "a/big.bin", dest, {
        sha256: sha(big),
        bytes: big.length,
        partBytes: 1 << 20,
        concurrency: 4,
        onProgress: (n) => (progressed += n),
      });
      expect(r).toEqual({ bytes: big.length, downloadedBytes: big.length, resumedBytes: 0 });
      expect(progressed).toBe(big.length);
      expect(sha(await readFile(dest))).toBe(sha(big));
      const wrong = join(tmp, "dl", "wrong.bin");
      await expect(downloadBlob(store, "a/big.bin", wrong, { sha256: "0".repeat(64), partBytes: 1 << 20 })).rejects.toBeInstanceOf(
        ChecksumMismatchError,
      );
      expect(existsSync(wrong)).toBe(false);
      expect(existsSync(`${wrong}.part`)).toBe(false);
      await expect(downloadBlob(store, "a/big.bin", wrong, { bytes: 5 })).rejects.toThrow(/manifest says 5/);
    });

    it("resumes an interrupted download with the parts it already has", async () => {
      const dest = join(tmp, "resume", "big.bin");
      const ac = new AbortController();
      let seen = 0;
      await expect(
        downloadBlob(store, "a/big.bin", dest, {
          partBytes: 1 << 20,
          concurrency: 1,
          signal: ac.signal,
          onProgress: (n) => {
            seen += n;
            if (seen > 5.5 * (1 << 20)) ac.abort(new Error("interrupted"));
          },
        }),
      ).rejects.toThrow();
      expect(existsSync(`${dest}.part.json`)).toBe(true);
      const r = await downloadBlob(store, "a/big.bin", dest, { sha256: sha(big), partBytes: 1 << 20, concurrency: 3 });
      expect(r.resumedBytes).toBeGreaterThanOrEqual(5 * (1 << 20));
      expect(r.downloadedBytes).toBe(big.length - r.resumedBytes);
      expect(sha(await readFile(dest))).toBe(sha(big));
      expect(existsSync(`${dest}.part.json`)).toBe(false);
    });

    it("pushes a file set with its index last, skips unchanged files, pulls and verifies", async () => {
      const src = join(tmp, "set");
      const a = randomBytes(3000);
      const b = randomBytes(6 * 1024 * 1024);
      const files = [
        { path: "set/a.bin", bytes: a.length, sha256: sha(a) },
        { path: "set/b.bin", bytes: b.length, sha256: sha(b) },
      ];
      await mkdir(join(src, "set"), { recursive: true });
      await writeFile(join(src, "set", "a.bin"), a);
      await writeFile(join(src, "set", "b.bin"), b);
      const index = { key: "set/index.json", data: Buffer.from(JSON.stringify(files)) };
      const first = await pushFiles(src, store, files, index);
      expect(first.transferredFiles).toEqual(["set/a.bin", "set/b.bin"]);
      expect((await readBlob(store, "set/index.json")).toString()).toBe(index.data.toString());
      const second = await pushFiles(src, store, files, index);
      expect(second.skippedFiles).toEqual(["set/a.bin", "set/b.bin"]);
      expect(second.transferredBytes).toBe(0);
      const dst = join(tmp, "pulled");
      const pulled = await pullFiles(store, dst, files, { download: { partBytes: 1 << 20 } });
      expect(pulled.transferredBytes).toBe(a.length + b.length);
      expect(sha(await readFile(join(dst, "set", "b.bin")))).toBe(sha(b));
      const again = await pullFiles(store, dst, files);
      expect(again.skippedFiles).toHaveLength(2);
    });
  });
}
