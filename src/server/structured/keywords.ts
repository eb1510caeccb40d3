/**
 * The JSON Schema vocabulary of the grammar converter: what it handles, what it ignores as an
 * annotation, and how places in a schema are named in error messages.
 * @module
 */

export type Dialect = "json" | "python";

export type Schema = Record<string, unknown>;

/** Ignored: they describe, they do not constrain. */
export const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "examples",
  "example",
  "$schema",
  "$id",
  "$comment",
  "$anchor",
  "deprecated",
  "readOnly",
  "writeOnly",
  "contentMediaType",
  "contentEncoding",
]);
export const DEFS = new Set(["$defs", "definitions"]);
/** Constraints the converter turns into grammar. Any other keyword is refused. */
export const HANDLED = new Set([
  "type",
  "enum",
  "const",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "anyOf",
  "oneOf",
  "allOf",
  "$ref",
  "nullable",
  "format",
]);
export const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
export const FORMATS = ["date", "time", "date-time", "uuid"];
/** Longest string / array bound expanded into a grammar. */
export const MAX_BOUND = 10_000;
export const MAX_DEPTH = 64;
export const KWARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What the converter handles, for error messages. */
export const SUPPORTED_SUMMARY =
  "type, enum, const, properties, required, additionalProperties, items, prefixItems, minItems, maxItems, minLength, maxLength, " +
  "minimum/maximum/exclusiveMinimum/exclusiveMaximum on integers, format (date, time, date-time, uuid), " +
  "anyOf, oneOf, allOf, local $ref, $defs, nullable";

export const isObj = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

/** `a.b`, or `a["x y"]` when the key is not an identifier. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Validation keywords of `s` besides `allowed`. */
export function siblings(s: Schema, allowed: readonly string[]): string[] {
  return Object.keys(s).filter((k) => HANDLED.has(k) && !allowed.includes(k));
}
