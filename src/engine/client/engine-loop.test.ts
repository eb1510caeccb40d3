import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { makeRequest } from "../../../test/fixtures/engine.js";

describe("engine loop", () => {
  it("a request that arrives over IPC during a blocking step joins the next step", async () => {
    // The engine runs in a child process as in production (test/fixtures/blocking-engine.ts): its
    // steps block the thread for 60 ms; the second request is sent 20 ms into the first one's step.
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("../../../test/fixtures/blocking-engine.ts", import.meta.url))],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    const reply = new Promise<{ batches: number[][][] }>((resolve, reject) => {
      child.on("message", (m: unknown) => {
        if (m === "ready") {
          // Once the child is idle (blocked waiting for I/O, as an engine between requests).
          setTimeout(() => {
            child.send({ ...makeRequest([1, 2, 3], { maxTokens: 4 }), requestId: "a" });
            setTimeout(() => child.send({ ...makeRequest([50, 51], { maxTokens: 4 }), requestId: "b" }), 20);
          }, 300);
        } else if (typeof m === "object" && m !== null && "batches" in m) resolve(m as { batches: number[][][] });
      });
      child.on("exit", (code) => reject(new Error(`engine child exited (${code})`)));
    });
    const { batches } = await reply;
    child.disconnect();
    // Step 1: a's prompt. Step 2: a's first decode and b's prompt together. (A step started straight
    // from the wake-up ran a second step before the pipe was read again: b joined only in step 3.)
    expect(batches[0]).toEqual([[1, 2, 3]]);
    expect(batches[1]!.map((t) => t.length)).toEqual([1, 2]);
  });
});
