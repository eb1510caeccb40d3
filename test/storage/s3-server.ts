/**
 * The real S3 server for storage tests: Ceph RGW started by scripts/test-s3.sh (installs the
 * Debian packages when missing) and stopped by its pid files. Only the S3 test file uses it.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../../scripts/test-s3.sh", import.meta.url));

export interface TestS3 {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

/**
 * Starts the server and returns its settings. When it cannot start, CI=true fails; elsewhere the
 * reason is printed and null returned (the S3 tests are skipped).
 */
export async function startTestS3(): Promise<TestS3 | null> {
  try {
    const { stdout } = await run("bash", [SCRIPT, "start"], { timeout: 600_000, maxBuffer: 16 << 20 });
    const env = Object.fromEntries(
      stdout
        .trim()
        .split("\n")
        .map((l) => l.split("=", 2) as [string, string]),
    );
    return {
      endpoint: env.AWS_ENDPOINT_URL!,
      accessKeyId: env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
      region: env.AWS_REGION!,
    };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = `${e.message}\n${e.stderr ?? ""}`;
    if (process.env.CI === "true") throw new Error(`could not start the test S3 server (Ceph RGW): ${why}`);
    console.warn(`skipping S3 tests: could not start Ceph RGW (${why.trim().split("\n").slice(-3).join(" | ")})`);
    return null;
  }
}

export async function stopTestS3(): Promise<void> {
  await run("bash", [SCRIPT, "stop"], { timeout: 60_000 }).catch(() => {});
}
