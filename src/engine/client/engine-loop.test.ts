import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { makeRequest } from "../../../test/fixtures/engine.js";

describe("engine loop", () => {
  it("a request that arrives over IPC during a blocking step joins the next step", async () => {
    // The engine runs in a child process as in production (test/fixtures/blocking-engine.ts): its
    // first step blocks the thread until the gate file exists; the second request is sent while it
    // blocks, and the gate opens once that message is written to the pipe.
    const dir = await mkdtemp(join(tmpdir(), "herd-engine-loop-"));
    const gate = join(dir, "gate");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("../../../test/fixtures/blocking-engine.ts", import.meta.url)), gate],
      { stdio: ["ignore", "inherit", "inherit", "ipc"] },
    );
    try {
      const reply = new Promise<{ batches: number[][][] }>((resolve, reject) => {
        child.on("message", (m: unknown) => {
          if (m === "ready") {
            // The child is idle (waiting for I/O, as an engine between requests).
            child.send({ ...makeRequest([1, 2, 3], { maxTokens: 4 }), requestId: "a" });
          } else if (typeof m === "object" && m !== null && "blocking" in m) {
            // Step 1 (a's prompt) is blocking the child's thread: b arrives during it.
            child.send({ ...makeRequest([50, 51], { maxTokens: 4 }), requestId: "b" }, (err) =>
              err ? reject(err) : void writeFile(gate, "").catch(reject),
            );
          } else if (typeof m === "object" && m !== null && "batches" in m) resolve(m as { batches: number[][][] });
        });
        child.on("exit", (code) => reject(new Error(`engine child exited (${code})`)));
      });
      const { batches } = await reply;
      // Step 1: a's prompt. Step 2: a's first decode and b's prompt together. (A step started straight
      // from the wake-up ran a second step before the pipe was read again: b joined only in step 3.)
      expect(batches[0]).toEqual([[1, 2, 3]]);
      expect(batches[1]!.map((t) => t.length)).toEqual([1, 2]);
    } finally {
      if (child.connected) child.disconnect();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
