/**
 * Boots `herd router` as a process (the CLI from source, via tsx) on a free port, the way the
 * benchmark scripts and the chart run it, and waits for its `listening on` log line.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "./herd-server.js";

export interface HerdRouter {
  readonly url: string;
  readonly port: number;
  output(): string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startHerdRouter(args: string[]): Promise<HerdRouter> {
  const proc = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "router", "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  proc.stderr?.on("data", (b: Buffer) => (text += b.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herd router did not start listening:\n${text}`)), 60_000);
    void exited.then(() => reject(new Error(`herd router exited before listening:\n${text}`)));
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      text += `${line}\n`;
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg?.startsWith("listening on") && typeof entry.port === "number") {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        /* not a log line */
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    output: () => text,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}
