import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsBlobStore } from "../../src/storage/fs-store.js";
import { runBlobStoreContract } from "./blob-store-contract.js";

runBlobStoreContract("fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "herd-fs-store-"));
  return { store: new FsBlobStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});
