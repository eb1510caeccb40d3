/**
 * Structured JSON logs (pino) on stdout. Request lines are child loggers bound to `{requestId}`.
 * Prompts and generated text are never logged: only sizes, timings and outcomes.
 *
 * Writes are asynchronous (lines written while a write is pending are coalesced), so logging costs
 * no syscall on the request path; pino flushes synchronously on process exit.
 * @module
 */
import { pino, type Logger } from "pino";
import type { LogLevel } from "../config/serve-config.js";

export type { Logger };

export function createLogger(level: LogLevel = "info"): Logger {
  return pino(
    {
      level,
      base: { service: "herd" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
