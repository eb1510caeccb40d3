/**
 * The few Kubernetes API reads `herd doctor` and `herd deploy` make, straight over HTTP(S) with the
 * user's kubeconfig (no kubectl needed): current context, bearer token, client certificates, or an
 * `exec` credential plugin (EKS: `aws eks get-token`). Errors say plainly what is missing.
 * @module
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { type EnvSource, readEnv } from "../config/env.js";

/** Why we cannot talk to a cluster (no kubeconfig, no context, bad credentials …). */
export class KubeConfigError extends Error {
  override readonly name = "KubeConfigError";
}

export interface KubeTarget {
  readonly kubeconfigPath: string;
  readonly contextName: string;
  readonly server: string;
  readonly namespace: string;
  readonly token: string | null;
  readonly ca: Buffer | null;
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly insecure: boolean;
}

export interface KubeOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  /** The environment to read KUBECONFIG, HOME and PATH from (the CLI passes `processEnv()`). */
  readonly env: EnvSource;
}

/** The kubeconfig file kubectl would use: --kubeconfig, else the first existing $KUBECONFIG entry, else ~/.kube/config. */
function kubeconfigPath(opts: KubeOptions): { path: string | null; tried: string[] } {
  if (opts.kubeconfig) return { path: existsSync(opts.kubeconfig) ? resolve(opts.kubeconfig) : null, tried: [opts.kubeconfig] };
  const fromEnv = (readEnv("KUBECONFIG", opts.env) ?? "").split(delimiter).filter((p) => p !== "");
  const home = readEnv("HOME", opts.env) ?? homedir();
  const tried = fromEnv.length > 0 ? fromEnv : [join(home, ".kube", "config")];
  return { path: tried.find((p) => existsSync(p)) ?? null, tried };
}

/** First executable named `name` on $PATH, or null. */
export function which(name: string, env: KubeOptions["env"]): string | null {
  for (const dir of (readEnv("PATH", env) ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

type Named<T> = { name: string } & T;
interface KubeConfigFile {
  "current-context"?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string; namespace?: string } }>[];
  clusters?: Named<{
    cluster?: {
      server?: string;
      "certificate-authority-data"?: string;
      "certificate-authority"?: string;
      "insecure-skip-tls-verify"?: boolean;
    };
  }>[];
  users?: Named<{
    user?: {
      token?: string;
      tokenFile?: string;
      "client-certificate-data"?: string;
      "client-key-data"?: string;
      "client-certificate"?: string;
      "client-key"?: string;
      exec?: { command?: string; args?: string[]; env?: { name: string; value: string }[] | null };
    };
  }>[];
}

async function fileOrData(base: string, data: string | undefined, file: string | undefined): Promise<Buffer | null> {
  if (data) return Buffer.from(data, "base64");
  if (file) return readFile(resolve(base, file));
  return null;
}

function runExecPlugin(
  exec: NonNullable<NonNullable<NonNullable<KubeConfigFile["users"]>[number]["user"]>["exec"]>,
  env: KubeOptions["env"],
  user: string,
): Promise<{ token: string | null; cert: Buffer | null; key: Buffer | null }> {
  const command = exec.command ?? "";
  if (!command.includes("/") && !which(command, env)) {
    return Promise.reject(
      new KubeConfigError(
        `kubeconfig user "${user}" gets its credentials from \`${command}\`, which is not on PATH (EKS: install the AWS CLI)`,
      ),
    );
  }
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  for (const e of exec.env ?? []) childEnv[e.name] = e.value;
  return new Promise((ok, fail) => {
    execFile(command, exec.args ?? [], { env: childEnv, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err)
        return fail(new KubeConfigError(`credential plugin \`${command}\` for user "${user}" failed: ${stderr.trim() || err.message}`));
      try {
        const status =
          (JSON.parse(stdout) as { status?: { token?: string; clientCertificateData?: string; clientKeyData?: string } }).status ?? {};
        ok({
          token: status.token ?? null,
          cert: status.clientCertificateData ? Buffer.from(status.clientCertificateData) : null,
          key: status.clientKeyData ? Buffer.from(status.clientKeyData) : null,
        });
      } catch {
        fail(new KubeConfigError(`credential plugin \`${command}\` for user "${user}" did not print an ExecCredential`));
      }
    });
  });
}

/** Resolves the cluster, namespace and credentials of the (current or given) context. */
export async function loadKubeTarget(opts: KubeOptions): Promise<KubeTarget> {
  const { path, tried } = kubeconfigPath(opts);
  if (!path) {
    throw new KubeConfigError(
      `no kubeconfig (looked for ${tried.join(", ")}): ` +
        `create one with \`aws eks update-kubeconfig --name CLUSTER --region REGION\`, or pass --kubeconfig`,
    );
  }
  let cfg: KubeConfigFile;
  try {
    cfg = (parseYaml(await readFile(path, "utf8")) ?? {}) as KubeConfigFile;
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${path} is not valid YAML: ${(e as Error).message}`);
  }
  const name = opts.context ?? cfg["current-context"];
  if (!name)
    throw new KubeConfigError(`kubeconfig ${path} has no current context: run \`kubectl config use-context NAME\` or pass --context`);
  const ctx = cfg.contexts?.find((c) => c.name === name)?.context;
  if (!ctx)
    throw new KubeConfigError(
      `kubeconfig ${path} has no context "${name}" (contexts: ${(cfg.contexts ?? []).map((c) => c.name).join(", ") || "none"})`,
    );
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new KubeConfigError(`context "${name}" names cluster "${ctx.cluster}", which has no server in ${path}`);
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  const base = dirname(path);
  let token = user.token ?? (user.tokenFile ? (await readFile(resolve(base, user.tokenFile), "utf8")).trim() : null);
  let cert = await fileOrData(base, user["client-certificate-data"], user["client-certificate"]);
  let key = await fileOrData(base, user["client-key-data"], user["client-key"]);
  if (user.exec) {
    const creds = await runExecPlugin(user.exec, opts.env, ctx.user ?? "");
    token = creds.token ?? token;
    cert = creds.cert ?? cert;
    key = creds.key ?? key;
  }
  return {
    kubeconfigPath: path,
    contextName: name,
    server: cluster.server.replace(/\/+$/, ""),
    namespace: ctx.namespace ?? "default",
    token,
    ca: await fileOrData(base, cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert,
    key,
    insecure: cluster["insecure-skip-tls-verify"] === true,
  };
}

export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

/** GET `path` on the API server; rejects only when the server cannot be reached. */
export function kubeGet(t: KubeTarget, path: string, timeoutMs = 10_000): Promise<KubeResponse> {
  const url = new URL(t.server + path);
  const https = url.protocol === "https:";
  const headers: Record<string, string> = { accept: "application/json" };
  if (t.token) headers["authorization"] = `Bearer ${t.token}`;
  const options = {
    method: "GET",
    headers,
    timeout: timeoutMs,
    ...(https ? { ca: t.ca ?? undefined, cert: t.cert ?? undefined, key: t.key ?? undefined, rejectUnauthorized: !t.insecure } : {}),
  };
  return new Promise((ok, fail) => {
    const req = (https ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // non-JSON error pages stay text
        }
        ok({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on("error", (e) => fail(new KubeConfigError(`cannot reach the API server ${t.server} (context "${t.contextName}"): ${e.message}`)));
    req.end();
  });
}
