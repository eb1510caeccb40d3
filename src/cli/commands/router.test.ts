import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { parseWorkerDns, register, toRouterConfig } from "./router.js";

/** Parses `herd router ARGS` up to the action, returning the options commander produced. */
function parse(args: string[]): Parameters<typeof toRouterConfig>[0] {
  const program = new Command().exitOverride();
  register(program);
  const cmd = program.commands.find((c) => c.name() === "router")!;
  cmd.exitOverride().action(() => {});
  program.parse(["node", "herd", "router", ...args]);
  return cmd.opts();
}

describe("herd router flags", () => {
  it("takes SGLang's flags, with its defaults", () => {
    const config = toRouterConfig(
      parse(["--worker-urls", "http://a:1", "http://b:2", "--policy", "power_of_two", "--port", "0", "--balance-abs-threshold", "4"]),
    );
    expect(config.source).toEqual({ kind: "urls", urls: ["http://a:1", "http://b:2"] });
    expect(config.policy).toBe("power_of_two");
    expect(config.port).toBe(0);
    expect(config.cacheAware).toEqual({ cacheThreshold: 0.5, balanceAbsThreshold: 4, balanceRelThreshold: 1.0001, maxTreeChars: 4194304 });
    expect(config.healthIntervalMs).toBe(5000);
  });

  it("discovers from DNS, and refuses both sources, neither, or bad values", () => {
    expect(toRouterConfig(parse(["--worker-dns", "herd-headless.ns.svc:8000", "--health-check-interval", "0.5"]))).toMatchObject({
      source: { kind: "dns", host: "herd-headless.ns.svc", port: 8000 },
      healthIntervalMs: 500,
    });
    expect(() => toRouterConfig(parse(["--worker-dns", "h:1", "--worker-urls", "http://a:1"]))).toThrow(/not both/);
    expect(() => toRouterConfig(parse([]))).toThrow(/no workers/);
    expect(() => parse(["--worker-urls", "http://a:1", "--cache-threshold", "1.5"])).toThrow(/from 0 to 1/);
    expect(() => parse(["--worker-urls", "http://a:1", "--policy", "prefix_hash"])).toThrow();
    expect(() => parseWorkerDns("no-port")).toThrow(/NAME:PORT/);
  });
});
