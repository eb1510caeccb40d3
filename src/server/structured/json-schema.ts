/**
 * JSON Schema → grammar, in two dialects over one converter:
 *   - `json`: JSON text (`response_format` json_schema / json_object);
 *   - `python`: Python literals (tool-call arguments in Llama 4's pythonic calls: strings in double
 *     quotes with JSON-style escapes, numbers, `True`/`False`/`None`, lists, dicts with string keys),
 *     plus `kwargs`, a function's keyword-argument list `a=1, b="x"` from its parameters schema.
 *
 * Supported: `type` (one or a list), `enum`, `const`, `properties`, `required`,
 * `additionalProperties` (absent = none, as in llama.cpp and xgrammar), `items`, `prefixItems`,
 * `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`/`exclusiveMinimum`/
 * `exclusiveMaximum` on integers (and `minimum: 0` on numbers), `format` date / time / date-time /
 * uuid, `anyOf`, `oneOf` (as anyOf), `allOf` (one schema, or object schemas merged), local `$ref`
 * (`#/$defs/…`, `#/definitions/…`, any `#/…` pointer; recursion allowed), OpenAPI's `nullable`.
 * Annotations (`title`, `description`, `default`, `examples`, `$schema`, …) are ignored. Anything
 * else — `pattern`, `minProperties`, `uniqueItems`, `not`, `if`, `multipleOf`, other formats, remote
 * references — is collected in `issues` with its path, and the caller refuses the request (400):
 * a constraint is never silently dropped.
 *
 * Objects keep the schema's property order; optional properties may be left out. The pieces of
 * each dialect are in primitives.ts, the vocabulary in keywords.ts, `allOf`/`$ref`/bounds helpers in
 * schema-helpers.ts.
 * @module
 */
import { alt, cls, EMPTY, type GrammarBuilder, isEmpty, list, lit, type Node, opt, rep, seq, star } from "./gbnf.js";
import { integerRange } from "./int-range.js";
import {
  ANNOTATIONS,
  childPath,
  DEFS,
  type Dialect,
  FORMATS,
  HANDLED,
  isObj,
  KWARG_NAME,
  MAX_BOUND,
  MAX_DEPTH,
  type Schema,
  siblings,
  TYPES,
} from "./keywords.js";
import { Primitives } from "./primitives.js";
import { integerBounds, mergeAllOf, resolvePointer } from "./schema-helpers.js";

export { type Dialect, SUPPORTED_SUMMARY } from "./keywords.js";

export class SchemaConverter {
  /** Unsupported or contradictory parts, each prefixed with its path. */
  readonly issues: string[] = [];
  readonly #b: GrammarBuilder;
  readonly #p: Primitives;
  readonly #root: unknown;
  readonly #rootPath: string;
  readonly #refs = new Map<string, Node>();
  #depth = 0;

  constructor(builder: GrammarBuilder, rootSchema: unknown, dialect: Dialect, rootPath: string) {
    this.#b = builder;
    this.#p = new Primitives(builder, dialect);
    this.#root = rootSchema;
    this.#rootPath = rootPath;
  }

  /** Any object (`response_format: json_object`). */
  anyObject(): Node {
    return this.#p.anyObject();
  }

  #issue(path: string, msg: string): Node {
    this.issues.push(`${path}: ${msg}`);
    return EMPTY;
  }

  readonly #report = (path: string, msg: string): void => {
    this.#issue(path, msg);
  };

  /** Reports keywords that are neither handled nor annotations. */
  #checkKeywords(s: Schema, path: string): void {
    for (const k of Object.keys(s)) {
      if (!HANDLED.has(k) && !ANNOTATIONS.has(k) && !DEFS.has(k)) this.#issue(path, `'${k}' is not supported`);
    }
  }

  value(s: unknown, path: string): Node {
    if (++this.#depth > MAX_DEPTH) {
      this.#depth--;
      return this.#issue(path, `schemas nested deeper than ${MAX_DEPTH} levels are not supported`);
    }
    try {
      return this.#value(s, path);
    } finally {
      this.#depth--;
    }
  }

  #value(s: unknown, path: string): Node {
    if (s === true) return this.#p.any();
    if (s === false) return this.#issue(path, "the schema `false` accepts no value");
    if (!isObj(s)) return this.#issue(path, "a schema must be an object or a boolean");
    this.#checkKeywords(s, path);
    const nullable = s["nullable"] === true;
    const withNull = (n: Node) => (nullable ? alt(n, this.#p.null()) : n);

    if ("$ref" in s) {
      const extra = siblings(s, ["$ref", "nullable"]);
      if (extra.length > 0) this.#issue(path, `'$ref' together with ${extra.map((k) => `'${k}'`).join(", ")} is not supported`);
      return withNull(this.#ref(s["$ref"], path));
    }
    for (const key of ["anyOf", "oneOf"] as const) {
      if (!(key in s)) continue;
      const subs = s[key];
      if (!Array.isArray(subs) || subs.length === 0) return this.#issue(childPath(path, key), "must be a non-empty array of schemas");
      const extra = siblings(s, [key, "nullable"]);
      if (extra.length > 0) this.#issue(path, `'${key}' together with ${extra.map((k) => `'${k}'`).join(", ")} is not supported`);
      return withNull(alt(...subs.map((sub, i) => this.value(sub, childPath(childPath(path, key), i)))));
    }
    if ("allOf" in s) {
      const merged = mergeAllOf(s, path, (x, p) => this.#deref(x, p), this.#report);
      return merged === null ? EMPTY : withNull(this.value(merged, path));
    }
    if ("const" in s) return withNull(this.#p.literal(s["const"]));
    if ("enum" in s) {
      const values = s["enum"];
      if (!Array.isArray(values) || values.length === 0) return this.#issue(childPath(path, "enum"), "must be a non-empty array");
      return withNull(alt(...values.map((v) => this.#p.literal(v))));
    }
    let types: string[];
    const t = s["type"];
    if (t === undefined) {
      types = this.#inferTypes(s);
      if (types.length === 0) return this.#p.any();
    } else {
      types = Array.isArray(t) ? t.map(String) : [String(t)];
      const bad = types.filter((x) => !TYPES.has(x));
      if (bad.length > 0 || types.length === 0)
        return this.#issue(childPath(path, "type"), `unknown type ${bad.map((x) => `'${x}'`).join(", ") || "[]"}`);
    }
    return withNull(alt(...types.map((ty) => this.#typed(ty, s, path))));
  }

  #inferTypes(s: Schema): string[] {
    if ("properties" in s || "additionalProperties" in s || "required" in s) return ["object"];
    if ("items" in s || "prefixItems" in s || "minItems" in s || "maxItems" in s) return ["array"];
    if ("minLength" in s || "maxLength" in s || "format" in s) return ["string"];
    if ("minimum" in s || "maximum" in s || "exclusiveMinimum" in s || "exclusiveMaximum" in s) return ["number"];
    return [];
  }

  #typed(type: string, s: Schema, path: string): Node {
    switch (type) {
      case "string":
        return this.#stringSchema(s, path);
      case "integer":
        return this.#integerSchema(s, path);
      case "number":
        return this.#numberSchema(s, path);
      case "boolean":
        return this.#p.boolean();
      case "null":
        return this.#p.null();
      case "object":
        return this.#objectSchema(s, path);
      default:
        return this.#arraySchema(s, path);
    }
  }

  #bound(s: Schema, key: string, path: string): number | null {
    const v = s[key];
    if (v === undefined) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      this.#issue(childPath(path, key), "must be a non-negative integer");
      return null;
    }
    if (v > MAX_BOUND) {
      this.#issue(childPath(path, key), `values above ${MAX_BOUND} are not supported`);
      return null;
    }
    return v;
  }

  #stringSchema(s: Schema, path: string): Node {
    if (s["format"] !== undefined) {
      const f = s["format"];
      if (typeof f !== "string" || !FORMATS.includes(f)) {
        return this.#issue(childPath(path, "format"), `format ${JSON.stringify(f)} is not supported (supported: ${FORMATS.join(", ")})`);
      }
      if ("minLength" in s || "maxLength" in s) this.#issue(path, "'minLength'/'maxLength' together with 'format' is not supported");
      return this.#p.formatString(f);
    }
    const min = this.#bound(s, "minLength", path) ?? 0;
    const max = this.#bound(s, "maxLength", path);
    if (max !== null && max < min) return this.#issue(path, `maxLength ${max} is below minLength ${min}`);
    return this.#p.string(min, max);
  }

  #integerSchema(s: Schema, path: string): Node {
    const b = integerBounds(s, path, this.#report);
    if (b === null) return EMPTY;
    if (b.min === null && b.max === null) return this.#p.integer();
    return this.#b.rule("int-range", integerRange(b.min, b.max));
  }

  #numberSchema(s: Schema, path: string): Node {
    const keys = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].filter((k) => s[k] !== undefined);
    if (keys.length === 0) return this.#p.number();
    if (keys.length === 1 && keys[0] === "minimum" && s["minimum"] === 0) return this.#p.number(true);
    return this.#issue(path, `${keys.map((k) => `'${k}'`).join(", ")} on a 'number' is not supported (only on 'integer', or 'minimum: 0')`);
  }

  #objectSchema(s: Schema, path: string): Node {
    const fields = this.#objectFields(s, path);
    if (fields === null) return EMPTY;
    const sp = this.#p.sp;
    const kv = (key: Node, value: Node) => seq(key, lit(":"), sp, value);
    const items = fields.props.map((p) => ({ node: kv(lit(JSON.stringify(p.name)), p.value), required: p.required }));
    const extra = fields.additional === null ? null : kv(this.#p.string(), fields.additional);
    return seq(lit("{"), sp, this.#members(items, this.#p.sep, extra), sp, lit("}"));
  }

  /** `properties` / `required` / `additionalProperties`, checked and converted. */
  #objectFields(
    s: Schema,
    path: string,
  ): { props: Array<{ name: string; value: Node; required: boolean }>; additional: Node | null } | null {
    const props = s["properties"] ?? {};
    if (!isObj(props)) {
      this.#issue(childPath(path, "properties"), "must be an object");
      return null;
    }
    const required = s["required"] ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
      this.#issue(childPath(path, "required"), "must be an array of strings");
      return null;
    }
    for (const r of required as string[]) {
      if (!(r in props)) this.#issue(childPath(path, "required"), `'${r}' is required but not listed in 'properties' (not supported)`);
    }
    const ap = s["additionalProperties"];
    let additional: Node | null = null;
    if (ap === true) additional = this.#p.any();
    else if (isObj(ap)) additional = this.value(ap, childPath(path, "additionalProperties"));
    else if (ap !== undefined && ap !== false) this.#issue(childPath(path, "additionalProperties"), "must be a boolean or a schema");
    const propsPath = childPath(path, "properties");
    return {
      props: Object.entries(props).map(([name, sub]) => ({
        name,
        value: this.value(sub, childPath(propsPath, name)),
        required: required.includes(name),
      })),
      additional,
    };
  }

  /**
   * Items in order, separated by `sep`; optional ones may be skipped. `extra` (additional members)
   * may follow, any number of times. Built back to front with one rule per position and "is a
   * separator needed" flag, so the grammar stays linear in the number of properties.
   */
  #members(items: Array<{ node: Node; required: boolean }>, sep: Node, extra: Node | null): Node {
    if (items.every((i) => i.required) && extra === null) {
      return seq(...items.flatMap((it, i) => (i === 0 ? [it.node] : [sep, it.node])));
    }
    const memo = new Map<string, Node>();
    // tail(i, need): items i.. given whether a separator must precede the next one written.
    const tail = (i: number, need: boolean): Node => {
      const key = `${i}:${need}`;
      const known = memo.get(key);
      if (known) return known;
      let body: Node;
      if (i === items.length) body = extra === null ? EMPTY : opt(seq(need ? sep : EMPTY, extra, star(seq(sep, extra))));
      else {
        const it = items[i] as { node: Node; required: boolean };
        const written = seq(need ? sep : EMPTY, it.node, tail(i + 1, true));
        body = it.required ? written : alt(written, tail(i + 1, need));
      }
      const node = isEmpty(body) ? body : this.#b.rule("members", body);
      memo.set(key, node);
      return node;
    };
    return tail(0, false);
  }

  #arraySchema(s: Schema, path: string): Node {
    const min = this.#bound(s, "minItems", path) ?? 0;
    const max = this.#bound(s, "maxItems", path);
    if (max !== null && max < min) return this.#issue(path, `maxItems ${max} is below minItems ${min}`);
    let prefix: unknown[] = [];
    let items: unknown = s["items"];
    if (Array.isArray(items)) {
      prefix = items; // draft-4 tuple form
      items = false;
    }
    if (s["prefixItems"] !== undefined) {
      if (!Array.isArray(s["prefixItems"])) return this.#issue(childPath(path, "prefixItems"), "must be an array of schemas");
      prefix = s["prefixItems"];
    }
    const sp = this.#p.sp;
    const prefixNodes = prefix.map((p, i) => this.value(p, childPath(childPath(path, "prefixItems"), i)));
    const itemNode = items === false ? null : items === undefined ? this.#p.any() : this.value(items, childPath(path, "items"));
    if (prefixNodes.length > 0 && max !== null && max < prefixNodes.length) {
      return this.#issue(path, `maxItems ${max} is below the ${prefixNodes.length} prefixItems`);
    }
    if (prefixNodes.length === 0) {
      if (itemNode === null) return max === null || min === 0 ? seq(lit("["), sp, lit("]")) : this.#issue(path, "no items allowed");
      return seq(lit("["), sp, list(itemNode, this.#p.sep, min, max), sp, lit("]"));
    }
    // Prefix items are always all present (a valid subset of what the schema allows).
    const restMin = Math.max(0, min - prefixNodes.length);
    const restMax = max === null ? null : max - prefixNodes.length;
    if (itemNode === null && restMin > 0) return this.#issue(path, `minItems ${min} needs more than the ${prefixNodes.length} prefixItems`);
    const rest = itemNode === null || restMax === 0 ? EMPTY : rep(seq(this.#p.sep, itemNode), restMin, restMax);
    return seq(lit("["), sp, ...prefixNodes.flatMap((n, i) => (i === 0 ? [n] : [this.#p.sep, n])), rest, sp, lit("]"));
  }

  /** A schema with a top-level `$ref` resolved (for merging). */
  #deref(x: unknown, path: string): Schema | null {
    let cur = x;
    for (let hops = 0; isObj(cur) && typeof cur["$ref"] === "string"; hops++) {
      if (hops > 32) break;
      const target = this.#resolve(cur["$ref"] as string, path);
      if (target === undefined) return null;
      cur = target;
    }
    if (!isObj(cur)) {
      this.#issue(path, "must be an object schema");
      return null;
    }
    return cur;
  }

  #resolve(ref: string, path: string): unknown {
    if (!ref.startsWith("#")) {
      this.#issue(childPath(path, "$ref"), `only local references ('#/…') are supported, not ${JSON.stringify(ref)}`);
      return undefined;
    }
    const target = resolvePointer(this.#root, ref);
    if (target === undefined) this.#issue(childPath(path, "$ref"), `${JSON.stringify(ref)} does not point into the schema`);
    return target;
  }

  #ref(ref: unknown, path: string): Node {
    if (typeof ref !== "string") return this.#issue(childPath(path, "$ref"), "must be a string");
    const known = this.#refs.get(ref);
    if (known) return known;
    const target = this.#resolve(ref, path);
    if (target === undefined) return EMPTY;
    const name = this.#b.reserve(`ref-${ref.split("/").pop() ?? "root"}`);
    const node: Node = { k: "ref", name };
    this.#refs.set(ref, node);
    const body = this.value(target, `${this.#rootPath}${ref.slice(1).replace(/\//g, ".")}`);
    this.#b.define(name, isEmpty(body) ? lit("") : body);
    return node;
  }

  // ---- Python keyword arguments ------------------------------------------------------------

  /**
   * A function's keyword arguments from its `parameters` schema (python dialect): `a=1, b="x"`,
   * properties in schema order, optional ones skippable, extra `name=value` pairs when
   * `additionalProperties` allows them. No parameters schema = no arguments.
   */
  kwargs(s: unknown, path: string): Node {
    if (s === undefined || s === null) return EMPTY;
    const root = this.#deref(s, path);
    if (root === null) return EMPTY;
    this.#checkKeywords(root, path);
    if (root["type"] !== undefined && root["type"] !== "object")
      return this.#issue(childPath(path, "type"), "function parameters must be an object schema");
    const extra = siblings(root, ["type", "properties", "required", "additionalProperties"]);
    if (extra.length > 0) return this.#issue(path, `${extra.map((k) => `'${k}'`).join(", ")} on function parameters is not supported`);
    const fields = this.#objectFields(root, path);
    if (fields === null) return EMPTY;
    const items = fields.props.map((p) => {
      if (!KWARG_NAME.test(p.name))
        this.#issue(childPath(childPath(path, "properties"), p.name), "is not a valid Python keyword-argument name");
      return { node: seq(lit(`${p.name}=`), p.value), required: p.required };
    });
    const ident = () => this.#b.rule("kwarg-name", seq(cls("[A-Za-z_]"), rep(cls("[A-Za-z0-9_]"), 0, 63)));
    const extraKw = fields.additional === null ? null : seq(ident(), lit("="), fields.additional);
    return this.#members(items, this.#p.sep, extraKw);
  }
}
