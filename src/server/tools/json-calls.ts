/**
 * JSON-style tool calls, which Llama 4 writes when a template asked for them (vLLM #16214,
 * #46863): `{"name": "f", "parameters": {…}}`, with `"arguments"` instead of `"parameters"`
 * (an object, or a string holding one), optionally `"type": "function"`, or OpenAI's
 * `{"function": {"name", "arguments"}}`. The scanner reads one object a character at a time and
 * gives up as soon as the object cannot be a call (a key outside that set, an unknown name), so a
 * JSON answer that is not a call is released at once.
 * @module
 */

const CALL_KEYS = new Set(["name", "type", "parameters", "arguments", "function"]);

export type ScanResult = "more" | "fail" | "done";

export class JsonObjectScanner {
  /** The object's text so far. */
  text = "";
  readonly #names: ReadonlySet<string> | null;
  #depth = 0;
  #inStr = false;
  #esc = false;
  #expectKey = true;
  #strStart = -1;
  #key = "";

  constructor(names: ReadonlySet<string> | null) {
    this.#names = names;
  }

  /** Feeds one character; the first must be `{`. `done`: the object closed. */
  feed(ch: string): ScanResult {
    this.text += ch;
    if (this.#inStr) {
      if (this.#esc) this.#esc = false;
      else if (ch === "\\") this.#esc = true;
      else if (ch === '"') {
        this.#inStr = false;
        if (this.#depth === 1 && !this.#topString()) return "fail";
      }
      return "more";
    }
    if (ch === '"') {
      this.#inStr = true;
      this.#strStart = this.text.length - 1;
    } else if (ch === "{" || ch === "[") this.#depth++;
    else if (ch === "}" || ch === "]") {
      if (--this.#depth === 0) return "done";
    } else if (this.#depth === 1 && ch === ":") this.#expectKey = false;
    else if (this.#depth === 1 && ch === ",") this.#expectKey = true;
    return "more";
  }

  /** A string just closed at the object's top level: early checks on keys, the name and the type. */
  #topString(): boolean {
    let s: unknown;
    try {
      s = JSON.parse(this.text.slice(this.#strStart));
    } catch {
      return false;
    }
    if (typeof s !== "string") return false;
    if (this.#expectKey) {
      this.#key = s;
      return CALL_KEYS.has(s);
    }
    if (this.#key === "name") return this.#names === null || this.#names.has(s);
    if (this.#key === "type") return s === "function";
    return true;
  }
}

/** The call a complete JSON object describes, or null when it is not one. */
export function jsonCall(text: string): { name: string; args: Record<string, unknown> } | null {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return null;
  const o = obj as Record<string, unknown>;
  if (Object.keys(o).some((k) => !CALL_KEYS.has(k))) return null;
  if (o["type"] !== undefined && o["type"] !== "function") return null;
  const f = typeof o["function"] === "object" && o["function"] !== null ? (o["function"] as Record<string, unknown>) : o;
  const name = f["name"];
  let args = f["parameters"] ?? f["arguments"] ?? {};
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      return null;
    }
  }
  if (typeof name !== "string" || typeof args !== "object" || args === null || Array.isArray(args)) return null;
  return { name, args: args as Record<string, unknown> };
}
