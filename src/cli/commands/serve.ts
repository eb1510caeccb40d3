/**
 * `herd serve [MODEL]`: the OpenAI-compatible server. Flags come from the option table in
 * `config/serve-config.ts` (vLLM's names), model sources (artifact folders, s3://) included; each
 * flag also reads its variables (`HERD_<FLAG>` unless the table names others). With no model it
 * serves the embedded random-weight Llama 4 model.
 * @module
 */
import type { Command } from "commander";
import { ConfigError, resolveServeConfig, SERVE_OPTIONS, type RawServeOptions } from "../../config/serve-config.js";
import { startServer } from "../../server/server.js";
import { addTableOptions, optionKey } from "../options.js";
import { withServeModel } from "./artifacts.js";

export function register(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve a GGUF model (default: the embedded random-weight Llama 4) behind an OpenAI-compatible API")
    .argument("[model]", "GGUF file, artifact folder, s3://bucket/prefix or artifact name to serve (same as --model)");
  addTableOptions(cmd, SERVE_OPTIONS);
  cmd.action(async (model: string | undefined, opts: Record<string, string | boolean | undefined>) => {
    const raw: RawServeOptions = {};
    for (const opt of SERVE_OPTIONS) raw[opt.key] = opts[optionKey(opt.flag)];
    if (model !== undefined) {
      if (raw.model !== undefined && raw.model !== model)
        throw new ConfigError(`two models given: ${model} and --model ${String(raw.model)}`, "model");
      raw.model = model;
    }
    const config = await withServeModel(resolveServeConfig(raw));
    const server = await startServer(config);
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) process.exit(130); // a second signal: stop now
      void server.shutdown(signal).then((drained) => process.exit(drained ? 0 : 1));
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
