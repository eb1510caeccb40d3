/**
 * Schema-level helpers of the grammar converter that need no grammar: integer bounds, `allOf`
 * merging and local `$ref` pointers. Problems are reported through `issue(path, message)`.
 * @module
 */
import { childPath, HANDLED, isObj, type Schema, siblings } from "./keywords.js";

export type Issue = (path: string, msg: string) => void;

/** Integer bounds → [min, max] (inclusive), honouring draft-4 boolean `exclusive*` flags; null when refused. */
export function integerBounds(s: Schema, path: string, issue: Issue): { min: bigint | null; max: bigint | null } | null {
  const num = (key: string): number | null => {
    const v = s[key];
    if (v === undefined || typeof v === "boolean") return null;
    if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER) {
      issue(childPath(path, key), "must be a number within ±2^53");
      return null;
    }
    return v;
  };
  let min: bigint | null = null;
  let max: bigint | null = null;
  const lo = num("minimum");
  const hi = num("maximum");
  const xlo = num("exclusiveMinimum");
  const xhi = num("exclusiveMaximum");
  const tighterMin = (v: bigint) => (min = min === null || v > min ? v : min);
  const tighterMax = (v: bigint) => (max = max === null || v < max ? v : max);
  if (lo !== null) tighterMin(s["exclusiveMinimum"] === true ? BigInt(Math.floor(lo)) + 1n : BigInt(Math.ceil(lo)));
  if (hi !== null) tighterMax(s["exclusiveMaximum"] === true ? BigInt(Math.ceil(hi)) - 1n : BigInt(Math.floor(hi)));
  if (xlo !== null) tighterMin(BigInt(Math.floor(xlo)) + 1n);
  if (xhi !== null) tighterMax(BigInt(Math.ceil(xhi)) - 1n);
  if (min !== null && max !== null && min > max) {
    issue(path, "the integer range is empty");
    return null;
  }
  return { min, max };
}

/** The value a local reference (`#`, `#/$defs/x`, any JSON pointer) points to in `root`, or undefined. */
export function resolvePointer(root: unknown, ref: string): unknown {
  let cur: unknown = root;
  const pointer = decodeURIComponent(ref.slice(1));
  if (pointer === "") return cur;
  for (const raw of pointer.replace(/^\//, "").split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    cur = Array.isArray(cur) ? cur[Number(key)] : isObj(cur) ? cur[key] : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

const OBJECT_KEYS = new Set(["type", "properties", "required", "additionalProperties"]);

/**
 * `allOf`: one schema as is, or object schemas merged soundly: properties united (a property
 * defined differently in two parts is refused), `required` united, a property kept only if every
 * part with `additionalProperties: false` lists it, and no other keys. `deref` resolves a part's
 * `$ref`. Null when refused.
 */
export function mergeAllOf(s: Schema, path: string, deref: (x: unknown, path: string) => Schema | null, issue: Issue): Schema | null {
  const subs = s["allOf"];
  const p = childPath(path, "allOf");
  if (!Array.isArray(subs) || subs.length === 0) {
    issue(p, "must be a non-empty array of schemas");
    return null;
  }
  const rest = Object.fromEntries(Object.entries(s).filter(([k]) => k !== "allOf" && k !== "nullable"));
  if (subs.length === 1 && siblings(rest, []).length === 0) return subs[0] as Schema;
  const parts = [
    ...subs.map((x, i) => ({ schema: deref(x, childPath(p, i)), path: childPath(p, i) })),
    { schema: rest as Schema | null, path },
  ];
  const props: Schema = {};
  const required = new Set<string>();
  const closed: Array<Set<string>> = [];
  for (const part of parts) {
    const sch = part.schema;
    if (sch === null) return null;
    const bad = Object.keys(sch).filter((k) => HANDLED.has(k) && !OBJECT_KEYS.has(k));
    const ap = sch["additionalProperties"];
    if ((sch["type"] !== undefined && sch["type"] !== "object") || bad.length > 0 || (ap !== undefined && typeof ap !== "boolean")) {
      issue(part.path, "'allOf' is supported for a single schema, or for object schemas without schema-valued additionalProperties");
      return null;
    }
    const own = isObj(sch["properties"]) ? (sch["properties"] as Schema) : {};
    for (const [k, v] of Object.entries(own)) {
      if (k in props && JSON.stringify(props[k]) !== JSON.stringify(v)) {
        issue(part.path, `property '${k}' is defined differently in two 'allOf' parts (not supported)`);
        return null;
      }
      props[k] = v;
    }
    for (const r of Array.isArray(sch["required"]) ? (sch["required"] as string[]) : []) required.add(r);
    if (ap === false) closed.push(new Set(Object.keys(own)));
  }
  const allowed = Object.fromEntries(Object.entries(props).filter(([k]) => closed.every((c) => c.has(k))));
  for (const r of required) {
    if (!(r in allowed)) {
      issue(path, `'${r}' is required but 'additionalProperties: false' in another part of 'allOf' excludes it`);
      return null;
    }
  }
  return { type: "object", properties: allowed, required: [...required], additionalProperties: false };
}
