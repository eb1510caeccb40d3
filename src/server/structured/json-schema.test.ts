import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../common/errors.js";
import { GrammarBuilder, type Node } from "./gbnf.js";
import { integerRange } from "./int-range.js";
import { SchemaConverter } from "./json-schema.js";
import { jsonDumps, pythonLiteral } from "./literals.js";
import { responseFormatCacheStats, responseFormatGrammar } from "./response-format.js";

const ajv = new Ajv2020({ strict: false });

function compile(schema: unknown, dialect: "json" | "python" = "json") {
  const b = new GrammarBuilder();
  const conv = new SchemaConverter(b, schema, dialect, "schema");
  return built(b, conv, conv.value(schema, "schema"));
}

/** The converter's issues, the grammar as a RegExp (null when it has issues or recurses) and as GBNF. */
function built(b: GrammarBuilder, conv: SchemaConverter, root: Node) {
  let re: RegExp | null = null;
  try {
    if (conv.issues.length === 0) re = b.toRegExp(root);
  } catch (err) {
    if (!/recursive/.test(String(err))) throw err;
  }
  return { issues: conv.issues, re, gbnf: b.toGbnf(root) };
}

const layouts = (v: unknown) => [jsonDumps(v), JSON.stringify(v), JSON.stringify(v, null, 2)];

/**
 * Sound: whatever the grammar accepts (in any layout) the schema accepts. And complete enough:
 * `accept` values are schema-valid and accepted in json.dumps layout; `reject` values are refused.
 */
function expectGrammar(schema: object, accept: unknown[], reject: unknown[] = []): void {
  const { issues, re } = compile(schema);
  expect(issues).toEqual([]);
  const validate = ajv.compile(schema);
  for (const v of [...accept, ...reject]) {
    for (const text of layouts(v)) if (re!.test(text)) expect(validate(v), `grammar accepts ${text}, the schema does not`).toBe(true);
  }
  for (const v of accept) {
    expect(validate(v), `${jsonDumps(v)} should be schema-valid`).toBe(true);
    expect(re!.test(jsonDumps(v)), `grammar should accept ${jsonDumps(v)}`).toBe(true);
  }
  for (const v of reject) for (const text of layouts(v)) expect(re!.test(text), `grammar should reject ${text}`).toBe(false);
}

describe("JSON Schema → grammar (json dialect)", () => {
  it("objects: required and optional properties in order, no extra keys unless allowed", () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        tags: { type: "array", items: { type: "string" } },
        ok: { type: "boolean" },
      },
      required: ["name", "ok"],
      additionalProperties: false,
    };
    expectGrammar(
      schema,
      [
        { name: "a", ok: true },
        { name: "a", age: 3, ok: false },
        { name: "a", age: -3, tags: ["x", "y"], ok: true },
        { name: "a", tags: [], ok: true },
      ],
      [
        { name: "a" },
        { ok: true },
        { name: 1, ok: true },
        { name: "a", ok: true, extra: 1 },
        { name: "a", age: 1.5, ok: true },
        {},
        [],
        "x",
      ],
    );
    // Properties come in schema order.
    expect(compile(schema).re!.test('{"ok": true, "name": "a"}')).toBe(false);
  });

  it("additionalProperties true / schema, nested objects, nullable and type lists", () => {
    expectGrammar(
      { type: "object", properties: { a: { type: "number" } }, additionalProperties: { type: "integer" } },
      [{ a: 1.5 }, { a: 1, b: 2 }, { b: 2, c: 3 }, {}],
      [{ a: 1, b: "x" }],
    );
    expectGrammar(
      {
        type: "object",
        properties: { a: { type: ["string", "null"] }, b: { type: "object", properties: { c: { type: "null" } }, required: ["c"] } },
        required: ["a", "b"],
      },
      [
        { a: null, b: { c: null } },
        { a: "x", b: { c: null } },
      ],
      [
        { a: 1, b: { c: null } },
        { a: "x", b: {} },
      ],
    );
    const { re } = compile({ type: "string", nullable: true });
    expect(re!.test("null") && re!.test('"x"') && !re!.test("1")).toBe(true);
  });

  it("strings: escapes, lengths, enum, const, formats", () => {
    expectGrammar({ type: "string", minLength: 2, maxLength: 4 }, ["ab", "abcd", 'q"\\\n', "日本語"], ["", "a", "abcde"]);
    expectGrammar({ enum: ["red", "green", 3, null, true, { a: [1] }] }, ["red", "green", 3, null, true, { a: [1] }], ["blue", 4, false]);
    expectGrammar({ const: "only" }, ["only"], ["other"]);
    const fmt = (f: string) => compile({ type: "string", format: f }).re!;
    expect(fmt("date").test('"2025-04-14"') && !fmt("date").test('"2025-13-01"') && !fmt("date").test('"25-01-01"')).toBe(true);
    expect(fmt("time").test('"23:59:60Z"') || fmt("time").test('"23:59:59Z"')).toBe(true);
    expect(fmt("date-time").test('"2025-04-14T08:42:03.123+02:00"') && !fmt("date-time").test('"2025-04-14 08:42"')).toBe(true);
    expect(fmt("uuid").test('"123e4567-e89b-12d3-a456-426614174000"') && !fmt("uuid").test('"123e4567"')).toBe(true);
  });

  it("numbers and integer ranges", () => {
    expectGrammar({ type: "number" }, [0, -1, 1.5, -0.25, 1e21, 123456789], ["1", null]);
    expectGrammar({ type: "integer", minimum: -5, maximum: 120 }, [-5, -1, 0, 7, 99, 100, 119, 120], [-6, 121, 1000, 1.5]);
    expectGrammar({ type: "integer", exclusiveMinimum: 0 }, [1, 42, 10 ** 15], [-1, 0]);
    expectGrammar({ type: "number", minimum: 0 }, [0, 0.5, 3], [-1, -0.5]);
  });

  it("integer ranges match exactly the integers in range", () => {
    const ranges: Array<[number | null, number | null]> = [
      [0, 0],
      [3, 3],
      [0, 9],
      [1, 10],
      [7, 23],
      [15, 1234],
      [99, 101],
      [100, 999],
      [123, 4567],
      [-20, -3],
      [-105, 37],
      [5, null],
      [-13, null],
      [null, 57],
      [null, -8],
      [0, null],
    ];
    for (const [min, max] of ranges) {
      const b = new GrammarBuilder();
      const re = b.toRegExp(integerRange(min === null ? null : BigInt(min), max === null ? null : BigInt(max)));
      for (let n = -1200; n <= 5000; n++) {
        const inRange = (min === null || n >= min) && (max === null || n <= max);
        if (re.test(String(n)) !== inRange) throw new Error(`[${min}, ${max}]: ${n} ${inRange ? "rejected" : "accepted"}`);
      }
      for (const bad of ["-0", "007", "+1", "01"]) expect(re.test(bad), `${bad} in [${min}, ${max}]`).toBe(false);
    }
  });

  it("arrays: items, prefixItems, min/max items", () => {
    expectGrammar({ type: "array", items: { type: "integer" }, minItems: 1, maxItems: 3 }, [[1], [1, 2, 3]], [[], [1, 2, 3, 4], ["a"]]);
    expectGrammar(
      { type: "array", prefixItems: [{ type: "string" }, { type: "boolean" }], items: { type: "null" } },
      [
        ["a", true],
        ["a", true, null, null],
      ],
      [
        [true, "a"],
        ["a", true, 1],
      ],
    );
    expect(compile({ type: "array" }).gbnf).toMatch(/^root ::= "\[" ws \(value \("," ws value\)\*\)\? ws "\]"$/m);
  });

  it("anyOf / oneOf / allOf / $ref to $defs", () => {
    expectGrammar({ anyOf: [{ type: "string" }, { type: "integer", minimum: 10 }] }, ["a", 10], [9, null]);
    expectGrammar({ oneOf: [{ type: "boolean" }, { type: "null" }] }, [true, null], [0]);
    const merged = {
      allOf: [{ type: "object", properties: { a: { type: "string" } }, required: ["a"] }, { $ref: "#/$defs/B" }],
      $defs: { B: { type: "object", properties: { b: { type: "integer" } } } },
    };
    expectGrammar(merged, [{ a: "x" }, { a: "x", b: 1 }], [{ b: 1 }, { a: 1 }, { a: "x", b: "y" }]);
    // additionalProperties: false next to allOf closes the object to no properties at all (JSON
    // Schema semantics), so the required 'a' can never appear: refused, not loosened.
    expect(compile({ ...merged, additionalProperties: false }).issues).toEqual([
      "schema: 'a' is required but 'additionalProperties: false' in another part of 'allOf' excludes it",
    ]);
    expectGrammar(
      {
        type: "object",
        properties: { p: { $ref: "#/definitions/P" } },
        required: ["p"],
        definitions: { P: { type: "array", items: { enum: [1, 2] } } },
      },
      [{ p: [1, 2] }],
      [{ p: [3] }, {}],
    );
  });

  it("recursive $ref becomes a recursive rule", () => {
    const { issues, gbnf } = compile({
      $defs: {
        node: {
          type: "object",
          properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } },
          required: ["v"],
        },
      },
      $ref: "#/$defs/node",
    });
    expect(issues).toEqual([]);
    expect(gbnf).toMatch(/^root ::= ref-node$/m);
    expect(gbnf).toMatch(/^members.* ::= .*ref-node/m); // kids refer back to the node rule
  });

  it("collects every unsupported feature with its path instead of ignoring it", () => {
    const { issues } = compile({
      type: "object",
      properties: {
        code: { type: "string", pattern: "^[A-Z]+$" },
        n: { type: "number", maximum: 5 },
        tags: { type: "array", items: { type: "string" }, uniqueItems: true },
        when: { type: "string", format: "email" },
        ext: { $ref: "https://example.com/s.json" },
        x: { not: { type: "null" } },
      },
      minProperties: 1,
    });
    expect(issues).toEqual([
      "schema: 'minProperties' is not supported",
      "schema.properties.code: 'pattern' is not supported",
      "schema.properties.n: 'maximum' on a 'number' is not supported (only on 'integer', or 'minimum: 0')",
      "schema.properties.tags: 'uniqueItems' is not supported",
      'schema.properties.when.format: format "email" is not supported (supported: date, time, date-time, uuid)',
      "schema.properties.ext.$ref: only local references ('#/…') are supported, not \"https://example.com/s.json\"",
      "schema.properties.x: 'not' is not supported",
    ]);
    expect(compile({ type: "object", properties: {}, required: ["a"] }).issues).toEqual([
      "schema.required: 'a' is required but not listed in 'properties' (not supported)",
    ]);
    expect(compile({ type: "integer", minimum: 5, maximum: 4 }).issues).toEqual(["schema: the integer range is empty"]);
  });

  it("ignores annotations", () => {
    expect(
      compile({ title: "T", description: "d", default: 1, examples: [1], $schema: "x", type: "integer", deprecated: false }).issues,
    ).toEqual([]);
  });
});

describe("python dialect (tool arguments)", () => {
  const kwargs = (schema: unknown) => {
    const b = new GrammarBuilder();
    const conv = new SchemaConverter(b, schema, "python", "tools[0].function.parameters");
    return built(b, conv, conv.kwargs(schema, "tools[0].function.parameters"));
  };

  it("keyword arguments with Python literals, optional ones skippable, in schema order", () => {
    const { re } = kwargs({
      type: "object",
      properties: {
        city: { type: "string" },
        unit: { enum: ["c", "f"] },
        days: { type: "integer" },
        opts: { type: "object", properties: { raw: { type: "boolean" }, x: { type: "null" } } },
      },
      required: ["city"],
    });
    for (const ok of [
      'city="Paris"',
      'city="Paris", unit="f"',
      'city="a\\"b", days=-3',
      'city="x", opts={"raw": True, "x": None}',
      'city="x",days=1',
    ])
      expect(re!.test(ok), ok).toBe(true);
    for (const bad of [
      'unit="c"',
      "city='Paris'",
      'city="x", unit="k"',
      'days=1, city="x"',
      'city="x", opts={"raw": true, "x": None}',
      'city="x", extra=1',
      'city="x", ',
    ]) {
      expect(re!.test(bad), bad).toBe(false);
    }
  });

  it("literals render the same way the grammar writes them", () => {
    const v = { s: 'q"\n', n: [1, 2.5, -3], b: [true, false, null], d: { k: {} } };
    expect(pythonLiteral(v)).toBe('{"s": "q\\"\\n", "n": [1, 2.5, -3], "b": [True, False, None], "d": {"k": {}}}');
    const built = kwargs({ type: "object", properties: { v: { type: "object", additionalProperties: true } }, required: ["v"] });
    expect(built.re).toBeNull(); // any value is recursive: no RegExp form, but it builds
    expect(built.gbnf).toMatch(/^py-value ::= /m);
  });

  it("refuses parameter names that cannot be keyword arguments", () => {
    expect(kwargs({ type: "object", properties: { "first-name": { type: "string" } } }).issues).toEqual([
      'tools[0].function.parameters.properties["first-name"]: is not a valid Python keyword-argument name',
    ]);
  });

  it("no parameters → no arguments; extra kwargs when additionalProperties allows", () => {
    expect(kwargs(undefined).re!.test("")).toBe(true);
    expect(kwargs({ type: "object", properties: {} }).re!.test("")).toBe(true);
    const { re } = kwargs({ type: "object", properties: { a: { type: "integer" } }, additionalProperties: { type: "string" } });
    expect(re!.test('a=1, b="x", c_2="y"') && re!.test('b="x"') && !re!.test("b=1")).toBe(true);
  });
});

describe("response_format grammars", () => {
  it("json_object and json_schema produce GBNF with a root; text produces none; results are cached", () => {
    expect(responseFormatGrammar({ type: "text" })).toBeUndefined();
    expect(responseFormatGrammar({ type: "json_object" })).toMatch(/^root ::= object\n/);
    const rf = {
      type: "json_schema" as const,
      json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "integer" } }, required: ["a"] } },
    };
    const before = responseFormatCacheStats();
    const g1 = responseFormatGrammar(rf);
    const g2 = responseFormatGrammar({ ...rf, json_schema: { ...rf.json_schema } });
    expect(g2).toBe(g1);
    expect(responseFormatCacheStats().hits).toBe(before.hits + 1);
    expect(g1).toContain('root ::= "{" ws "\\"a\\":" ws integer ws "}"');
  });

  it("unsupported features are a 400 on response_format.json_schema.schema naming each one", () => {
    try {
      responseFormatGrammar({
        type: "json_schema",
        json_schema: { schema: { type: "object", properties: { a: { type: "string", pattern: "x" } }, patternProperties: {} } },
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidRequestError);
      const e = err as InvalidRequestError;
      expect(e.param).toBe("response_format.json_schema.schema");
      expect(e.code).toBe("unsupported_schema");
      expect(e.message).toContain("response_format.json_schema.schema: 'patternProperties' is not supported");
      expect(e.message).toContain("response_format.json_schema.schema.properties.a: 'pattern' is not supported");
    }
    expect(() => responseFormatGrammar({ type: "json_schema", json_schema: {} })).toThrow(/schema' is required/);
  });
});
