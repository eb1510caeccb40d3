/**
 * Commander options from `config/serve-config.ts`'s option table: one help format for every command
 * that shares those flags: the description, the default (`optionDefaultText`) and the variables read.
 * @module
 */
import { type Command, Option } from "commander";
import { optionDefaultText, optionEnvNames, type ServeOption } from "../config/serve-config.js";

/** `--help` text of `opt`: description (default: …) [env …]. */
function optionHelp(opt: ServeOption): string {
  const def = optionDefaultText(opt);
  const env = optionEnvNames(opt);
  return `${opt.description}${def !== undefined ? ` (default: ${def})` : ""}${env.length > 0 ? ` [env ${env.join(", ")}]` : ""}`;
}

/** Adds `options` to `cmd` (a bool option as `--flag`, and `--no-flag` where it has `negate`). */
export function addTableOptions(cmd: Command, options: readonly ServeOption[]): Command {
  for (const opt of options) {
    if (opt.kind === "bool") {
      cmd.addOption(new Option(`--${opt.flag}`, optionHelp(opt)));
      if (opt.negate) cmd.addOption(new Option(`--no-${opt.flag}`, opt.negate));
    } else {
      const o = new Option(`--${opt.flag} <${opt.arg ?? (opt.kind === "int" ? "n" : "value")}>`, optionHelp(opt));
      if (opt.choices) o.choices([...opt.choices]);
      cmd.addOption(o);
    }
  }
  return cmd;
}

/** The commander key of a kebab-case flag: `max-num-seqs` → `maxNumSeqs`. */
export function optionKey(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}
