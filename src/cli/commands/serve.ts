/**
 * `herd serve [MODEL]`: the OpenAI-compatible server. Flags come from the option table in
 * `config/serve-config.ts` (vLLM's names); each also reads `HERD_<FLAG>` from the environment.
 * With no model it serves the embedded random-weight Llama 4 model.
 * @module
 */
import { type Command, Option } from "commander";
import {
  ConfigError,
  optionDefaultText,
  optionEnvNames,
  resolveServeConfig,
  SERVE_OPTIONS,
  type RawServeOptions,
} from "../../config/serve-config.js";
import { startServer } from "../../server/server.js";
import { addServeModelOptions, withServeModel } from "./artifacts.js";

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

export function register(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve a GGUF model (default: the embedded random-weight Llama 4) behind an OpenAI-compatible API")
    .argument("[model]", "GGUF file to serve (same as --model)");
  for (const opt of SERVE_OPTIONS) {
    const env = optionEnvNames(opt);
    const def = optionDefaultText(opt);
    const help = `${opt.description}${def !== undefined ? ` (default: ${def})` : ""}${env.length > 0 ? ` [env ${env.join(", ")}]` : ""}`;
    if (opt.kind === "bool") {
      cmd.addOption(new Option(`--${opt.flag}`, help));
      if (opt.key === "enablePrefixCaching") cmd.addOption(new Option(`--no-${opt.flag}`, "disable prefix caching"));
    } else {
      const o = new Option(`--${opt.flag} <${opt.kind === "int" ? "n" : "value"}>`, help);
      if (opt.choices) o.choices([...opt.choices]);
      cmd.addOption(o);
    }
  }
  addServeModelOptions(cmd);
  cmd.action(async (model: string | undefined, opts: Record<string, string | boolean | undefined>) => {
    const raw: RawServeOptions = {};
    for (const opt of SERVE_OPTIONS) raw[opt.key] = opts[camel(opt.flag)];
    if (model !== undefined) {
      if (raw.model !== undefined && raw.model !== model)
        throw new ConfigError(`two models given: ${model} and --model ${String(raw.model)}`, "model");
      raw.model = model;
    }
    const config = await withServeModel(resolveServeConfig(raw), opts);
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
