/**
 * Routes llama.cpp/ggml log lines into a JS sink. The setting is process-wide (llama.cpp keeps one
 * callback), so the engine process installs it once at startup.
 * @module
 */
import koffi from "koffi";
import type { Bindings } from "./bindings.js";

/** ggml_log_level: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 cont (continues the previous line). */
export type GgmlLogLevel = 0 | 1 | 2 | 3 | 4 | 5;
export type LogSink = (level: "debug" | "info" | "warn" | "error", text: string) => void;

const NAMES = ["debug", "debug", "info", "warn", "error"] as const;
let registered: unknown;

/**
 * A ggml log callback that assembles lines (continuation pieces, level 5, follow their parent's
 * level) and hands `sink` each complete line at `minLevel` or above.
 */
export function logLineCallback(sink: LogSink, minLevel: GgmlLogLevel): (level: number, text: string) => void {
  let lastLevel = 0;
  let buffer = "";
  return (level, text) => {
    const eff = level === 5 ? lastLevel : level;
    lastLevel = eff;
    if (eff < minLevel) return;
    buffer += text;
    if (!buffer.endsWith("\n")) return;
    const line = buffer.trimEnd();
    buffer = "";
    if (line.length > 0) sink(NAMES[eff] ?? "info", line);
  };
}

/** Installs `sink` for llama.cpp's log lines at `minLevel` or above (default warn). */
export function installLlamaLog(b: Bindings, sink: LogSink, minLevel: GgmlLogLevel = 3): void {
  registered = koffi.register(logLineCallback(sink, minLevel), koffi.pointer(koffi.type("herd_log_cb")));
  b.logSet(registered, null);
}
