/** The registry of CLI commands, in the order `herd --help` lists them. */
import type { Command } from "commander";
import { register as bench } from "./bench.js";
import { register as artifacts } from "./artifacts.js";
import { register as compile } from "./compile.js";
import { register as deploy } from "./deploy.js";
import { register as doctor } from "./doctor.js";
import { register as generateModel } from "./generate-model.js";
import { register as plan } from "./plan.js";
import { register as router } from "./router.js";
import { register as serve } from "./serve.js";

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [serve, generateModel, plan, deploy, doctor, compile, artifacts, bench, router];
