#!/usr/bin/env node
/**
 * `herd` command line: each command lives in `commands/<name>.ts` and exports `register(program)`.
 * @module
 */
import { Command } from "commander";
import { commands } from "./commands/index.js";
import { HERD_VERSION } from "../common/version.js";

const program = new Command("herd")
  .description("Serve Llama 4 (and any GGUF llama.cpp loads) behind an OpenAI-compatible API")
  .version(HERD_VERSION)
  .showHelpAfterError();

for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`herd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
