/**
 * JSON values written out as text: `jsonDumps` in Python's `json.dumps` layout (`{"a": 1, "b": [2, 3]}`,
 * the layout vLLM's tool parsers produce and Llama models read most), and `pythonLiteral` as a
 * Python literal (`True`/`False`/`None`, strings in double quotes). A JSON string literal is a valid
 * Python string literal with the same value, so strings are written the same way in both.
 * @module
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function write(v: unknown, dialect: "json" | "python"): string {
  if (v === null || v === undefined) return dialect === "json" ? "null" : "None";
  if (typeof v === "boolean") return dialect === "json" ? String(v) : v ? "True" : "False";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`${v} has no JSON form`);
    return JSON.stringify(v);
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => write(x, dialect)).join(", ")}]`;
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${write(x, dialect)}`);
    return `{${entries.join(", ")}}`;
  }
  throw new Error(`a ${typeof v} has no JSON form`);
}

/** `json.dumps(v)`: `", "` and `": "` separators, non-ASCII kept as is. */
export function jsonDumps(v: unknown): string {
  return write(v, "json");
}

/** The Python literal for a JSON value. */
export function pythonLiteral(v: unknown): string {
  return write(v, "python");
}
