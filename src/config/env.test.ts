import { afterEach, describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ENV_VARS, EnvError, flagEnvName, getEnv, isCI, readEnv, readFlagEnv, renderEnvTable } from "./env.js";
import { optionEnvNames, SERVE_OPTIONS } from "./serve-config.js";

afterEach(() => vi.unstubAllEnvs());

const ROOT = resolve(import.meta.dirname, "../..");

describe("the environment registry", () => {
  it("reads lazily, trims, and treats empty as unset", () => {
    vi.stubEnv("HF_ENDPOINT", "  https://mirror.example  ");
    expect(getEnv("HF_ENDPOINT")).toBe("https://mirror.example");
    vi.stubEnv("HF_ENDPOINT", " ");
    expect(getEnv("HF_ENDPOINT")).toBe("https://huggingface.co");
    expect(readEnv("HF_ENDPOINT")).toBeUndefined();
    vi.stubEnv("HERD_MAX_NUM_SEQS", " 4 ");
    expect(readFlagEnv("max-num-seqs")).toBe("4");
  });

  it("types values as declared, with defaults, and names a malformed variable", () => {
    expect(getEnv("HERD_BUILD_JOBS", {})).toBe(2);
    expect(getEnv("HERD_BUILD_JOBS", { HERD_BUILD_JOBS: "8" })).toBe(8);
    expect(() => getEnv("HERD_BUILD_JOBS", { HERD_BUILD_JOBS: "lots" })).toThrow(EnvError);
    expect(() => getEnv("HERD_BUILD_JOBS", { HERD_BUILD_JOBS: "lots" })).toThrow(/HERD_BUILD_JOBS must be an integer/);
    expect(getEnv("HERD_ENABLE_TEST_HOOKS", {})).toBe(false);
    expect(getEnv("HERD_ENABLE_TEST_HOOKS", { HERD_ENABLE_TEST_HOOKS: "1" })).toBe(true);
    expect(getEnv("HERD_SOAK_HOSTILE_RUNS", { HERD_SOAK_HOSTILE_RUNS: "0" })).toBe(false);
    expect(() => getEnv("HERD_S3_FORCE_PATH_STYLE", { HERD_S3_FORCE_PATH_STYLE: "maybe" })).toThrow(/must be true or false/);
    expect(getEnv("HERD_S3_FORCE_PATH_STYLE", {})).toBeUndefined();
  });

  it("CI counts as set unless false or 0", () => {
    vi.stubEnv("CI", "true");
    expect(isCI()).toBe(true);
    vi.stubEnv("CI", "0");
    expect(isCI()).toBe(false);
    vi.stubEnv("CI", undefined);
    expect(isCI()).toBe(false);
  });

  it("declares every variable once: serve options' own HERD_<FLAG> never shadow a declared one", () => {
    const mirrors = SERVE_OPTIONS.filter((o) => o.env === undefined).map((o) => flagEnvName(o.flag));
    expect(mirrors.filter((n) => n in ENV_VARS)).toEqual([]);
    expect(new Set(mirrors).size).toBe(mirrors.length);
  });

  it("covers every variable named in the code (src, test, bench, scripts)", () => {
    const declared = new Set<string>([...Object.keys(ENV_VARS), ...SERVE_OPTIONS.flatMap((o) => optionEnvNames(o))]);
    /** Names that look like variables but are not, or are read by a library rather than by herd. */
    const notOurs = new Set([
      "HERD_VERSION",
      "VLLM_CASES",
      "AWS_PROFILE",
      // constants
      "HERD_TEMP",
      "AWS_CLI_IMAGE",
      "VLLM_GPU_MEMORY_UTILIZATION",
      "VLLM_NON_KV_BYTES_PER_GPU",
      "HERD_DEFAULT_DTYPE",
      // set by the chart for its artifact scripts (deploy/helm/herd/files), not read by herd
      "HERD_EXPECT_TP_DEGREE",
      "HERD_EXPECT_SEQ_LEN",
    ]);
    /** herd-compile.env's keys (a Neuron artifact's compile settings), written and read as a file. */
    const settingsKey = /^HERD_NEURON_/;
    const found = new Map<string, string>();
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".ts")) {
          for (const m of readFileSync(p, "utf8").matchAll(/\b(?:HERD|VLLM|AWS|HF|HUGGING_FACE)_[A-Z0-9_]*[A-Z0-9]\b/g)) {
            if (!found.has(m[0])) found.set(m[0], p.slice(ROOT.length + 1));
          }
        }
      }
    };
    for (const dir of ["src", "test", "bench", "scripts"]) walk(join(ROOT, dir));
    const undeclared = [...found]
      .filter(([n]) => !declared.has(n) && !notOurs.has(n) && !settingsKey.test(n))
      .map(([n, at]) => `${n} (${at})`);
    expect(undeclared).toEqual([]);
  });

  it("docs/serving.md lists exactly the registry's variables", () => {
    const docs = readFileSync(join(ROOT, "docs/serving.md"), "utf8");
    const print = `npx tsx -e 'import("./src/config/env.ts").then((m) => console.log(m.renderEnvTable()))'`;
    expect(docs, `docs/serving.md's table must be renderEnvTable()'s output (${print})`).toContain(renderEnvTable());
  });
});

describe("scripts/check-layers.ts", () => {
  const run = (src: string): { ok: boolean; out: string } => {
    try {
      const out = execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts/check-layers.ts"), src], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: "pipe",
      });
      return { ok: true, out };
    } catch (e) {
      return { ok: false, out: String((e as { stderr?: string }).stderr) };
    }
  };
  const tree = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), "herd-layers-"));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  };

  it("lets every layer import the registry, and only the registry read process.env", () => {
    const env = "process" + ".env";
    const ok = tree({
      "config/env.ts": `import { homedir } from "node:os";\nexport const x = ${env}.X;\n`,
      "native/a.ts": `import { getEnv } from "../config/env.js";\n`,
      "config/b.test.ts": `const y = ${env}.Y;\n`,
    });
    const bad = tree({
      "config/env.ts": `import { c } from "../common/c.js";\n`,
      "config/serve-config.ts": `export const s = ${env}["S"];\n`,
      "common/c.ts": `const { env } = process;\nexport const c = env.C;\n`,
      "native/a.ts": `import { s } from "../config/serve-config.js";\n`,
      "storage/d.ts": `// reads process["env"] in a comment\n`,
      "common/e.test.ts": `const y = ${env}.Y;\n`,
    });
    try {
      expect(run(ok)).toMatchObject({ ok: true });
      const r = run(bad);
      expect(r.ok).toBe(false);
      expect(r.out).toContain("config/env.ts: imports common/c.js (the environment registry is a leaf");
      expect(r.out).toContain("config/serve-config.ts:1: reads process.env");
      expect(r.out).toContain("common/c.ts:1: reads process.env");
      expect(r.out).toContain("storage/d.ts:1: reads process.env");
      expect(r.out).toContain("common/e.test.ts:1: reads process.env");
      expect(r.out).toContain("native/a.ts: imports config/serve-config.js (native may not import config)");
    } finally {
      rmSync(ok, { recursive: true, force: true });
      rmSync(bad, { recursive: true, force: true });
    }
  }, 30_000);
});
