/**
 * Structured JSON logs (pino) on stdout. Request lines are child loggers bound to `{requestId}`.
 * Prompts and generated text are never logged: only sizes, timings and outcomes.
 * @module
 */
import { pino, type Logger } from "pino";
import type { LogLevel } from "../config/serve-config.js";

export type { Logger };

export function createLogger(level: LogLevel = "info"): Logger {
  return pino({
    level,
    base: { service: "herd" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
