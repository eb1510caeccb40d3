/**
 * Structured JSON logs (pino) on stdout, the same shape for every herd process (`herd serve`,
 * `herd router`): ISO time, the level as a word, `service`. Writes are asynchronous (lines written
 * while a write is pending are coalesced), so logging costs no syscall on the request path; pino
 * flushes synchronously on process exit.
 * @module
 */
import { pino, type Logger } from "pino";

export function createJsonLogger(level: string, service: string): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
