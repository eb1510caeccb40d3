/**
 * Structured JSON logs (pino) on stdout (common/json-logger.ts). Request lines are child loggers bound
 * to `{requestId}`. Prompts and generated text are never logged: only sizes, timings and outcomes.
 * @module
 */
import { pino, type Logger } from "pino";
import { createJsonLogger } from "../common/json-logger.js";
import type { LogLevel } from "../config/serve-config.js";

export type { Logger };

export function createLogger(level: LogLevel = "info"): Logger {
  return createJsonLogger(level, "herd");
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
