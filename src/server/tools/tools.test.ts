import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../common/errors.js";
import { pythonLiteral } from "../structured/literals.js";
import { resolveTools, type ToolConfig } from "./config.js";
import { chatGrammar, toolGrammar } from "./grammar.js";
import { applyToolFormat } from "./messages.js";
import { chatMessage, parserOptions, ToolDeltaStream, toolFinishReason } from "./output.js";
import { parseToolCalls } from "./pythonic-parser.js";

const WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", maxLength: 12 },
        unit: { enum: ["c", "f"] },
        days: { type: "integer", minimum: 1, maximum: 14 },
      },
      required: ["city"],
      additionalProperties: false,
    },
  },
};
const NOW = { type: "function", function: { name: "now" } };

function thrown(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidRequestError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("resolveTools", () => {
  it("defaults: auto with tools, nothing without; parallel on", () => {
    expect(resolveTools({})).toBeNull();
    expect(resolveTools({ tools: [WEATHER] })).toMatchObject({
      choice: { kind: "auto" },
      parallel: true,
      tools: [{ name: "get_weather", strict: false }],
    });
    expect(
      resolveTools({ tools: [WEATHER], tool_choice: { type: "function", function: { name: "get_weather" } }, parallel_tool_calls: false }),
    ).toMatchObject({
      choice: { kind: "named", name: "get_weather" },
      parallel: false,
    });
  });

  it("refuses bad tools and choices with 400s naming the field", () => {
    expect(thrown(() => resolveTools({ tools: [{ type: "function", function: { name: "bad name" } }] })).param).toBe(
      "tools[0].function.name",
    );
    expect(thrown(() => resolveTools({ tools: [NOW, NOW] })).param).toBe("tools[1].function.name");
    expect(thrown(() => resolveTools({ tools: [{ type: "function" }] })).param).toBe("tools[0].function");
    expect(
      thrown(() => resolveTools({ tools: [{ type: "function", function: { name: "f", parameters: { type: "string" } } }] })).param,
    ).toBe("tools[0].function.parameters");
    expect(thrown(() => resolveTools({ tool_choice: "required" })).param).toBe("tool_choice");
    expect(thrown(() => resolveTools({ tools: [NOW], tool_choice: { type: "function", function: { name: "later" } } })).message).toMatch(
      /'later', which is not in 'tools'/,
    );
    expect(thrown(() => resolveTools({ tools: [NOW], tool_choice: "sometimes" })).param).toBe("tool_choice");
  });
});

describe("tool prompt and history", () => {
  const cfg = resolveTools({ tools: [WEATHER, NOW] }) as ToolConfig;

  it("appends the tool block to the caller's system message, in Llama 4's native style", () => {
    const out = applyToolFormat(
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather in Oslo?" },
      ],
      cfg,
    );
    expect(out).toHaveLength(2);
    const sys = out[0]?.content ?? "";
    expect(sys.startsWith("Be brief.\n\nYou are an expert in composing functions.")).toBe(true);
    expect(sys).toContain("[func_name1(param1=value1, param2=value2), func_name2(param=value)]");
    expect(sys).toContain('Here is a list of functions in JSON format that you can invoke.\n\n[\n    {\n        "name": "get_weather",');
    expect(sys).toContain('"name": "now",\n        "parameters": {\n            "type": "object",\n            "properties": {}');
    // No system message: the block is one.
    expect(applyToolFormat([{ role: "user", content: "x" }], cfg)[0]).toMatchObject({
      role: "system",
      content: expect.stringMatching(/^You are an expert/),
    });
  });

  it("says what tool_choice and parallel_tool_calls require", () => {
    const req = (tc: unknown, parallel = true) =>
      applyToolFormat([], resolveTools({ tools: [WEATHER], tool_choice: tc, parallel_tool_calls: parallel }))[0]?.content ?? "";
    expect(req("required")).toContain("you MUST call at least one function");
    expect(req("required", false)).toContain("you MUST call exactly one function");
    expect(req("required", false)).toContain("Call at most one function per response.");
    expect(req({ type: "function", function: { name: "get_weather" } })).toContain("you MUST call the function get_weather");
    expect(applyToolFormat([{ role: "user", content: "x" }], resolveTools({ tools: [WEATHER], tool_choice: "none" }))).toEqual([
      { role: "user", content: "x" },
    ]);
  });

  it("renders assistant tool calls as a pythonic list with real literals, and tool results as ipython", () => {
    const out = applyToolFormat(
      [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: "",
          tool_calls: [
            {
              id: "c1",
              type: "function",
              function: {
                name: "get_weather",
                arguments: '{"city": "Paris", "days": 3, "opts": {"raw": true, "x": null}, "tags": ["a\\"b"]}',
              },
            },
            { id: "c2", type: "function", function: { name: "now", arguments: "{}" } },
          ],
        },
        { role: "tool", content: '{"temp_c": 18}', tool_call_id: "c1" },
        { role: "tool", content: "12:00", tool_call_id: "c2" },
      ],
      null,
    );
    expect(out[1]).toEqual({
      role: "assistant",
      content: '[get_weather(city="Paris", days=3, opts={"raw": True, "x": None}, tags=["a\\"b"]), now()]',
    });
    expect(out[2]).toEqual({ role: "ipython", content: '{"temp_c": 18}' });
    expect(out[3]).toEqual({ role: "ipython", content: "12:00" });
    // What herd renders, herd parses back to the same arguments.
    const back = parseToolCalls(out[1]?.content ?? "", parserOptions(cfg));
    expect(back.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
      ["get_weather", { city: "Paris", days: 3, opts: { raw: true, x: null }, tags: ['a"b'] }],
      ["now", {}],
    ]);
  });

  it("refuses tool-call arguments that are not a JSON object", () => {
    const bad = (args: string) =>
      thrown(() =>
        applyToolFormat(
          [{ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "f", arguments: args } }] }],
          null,
        ),
      );
    expect(bad("{nope").param).toBe("messages[0].tool_calls[0].function.arguments");
    expect(bad("[1]").message).toMatch(/must be a JSON object/);
  });
});

describe("tool grammars", () => {
  const ajv = new Ajv2020({ strict: false });
  const validate = ajv.compile(WEATHER.function.parameters);

  it("required: the grammar accepts call lists whose arguments satisfy the schema, and the parser reads them back", () => {
    const cfg = resolveTools({ tools: [WEATHER, NOW], tool_choice: "required" }) as ToolConfig;
    const g = toolGrammar(cfg, null);
    const re = g!.b.toRegExp(g!.root);
    const good = [
      '[get_weather(city="Oslo")]',
      '[get_weather(city="Oslo", unit="f", days=14), now()]',
      '[now(),get_weather(city="a\\"b\\u00e9", days=1)]',
      '[get_weather(city="x", days=7), get_weather(city="y")]',
    ];
    for (const text of good) {
      expect(re.test(text), text).toBe(true);
      const parsed = parseToolCalls(text, parserOptions(cfg));
      expect(parsed.content).toBeNull();
      for (const c of parsed.toolCalls) if (c.name === "get_weather") expect(validate(JSON.parse(c.arguments)), c.arguments).toBe(true);
    }
    for (const bad of [
      "",
      "[]",
      "Sure! [now()]",
      '[get_weather(city="Oslo", days=15)]',
      '[get_weather(city="0123456789abc")]',
      "[get_weather()]",
      '[get_weather(unit="c")]',
      "[now(x=1)]",
      "[later()]",
      "now()",
    ]) {
      expect(re.test(bad), bad).toBe(false);
    }
    // Values the grammar writes are the literals pythonLiteral renders.
    expect(re.test(`[get_weather(city=${pythonLiteral("tab\there")})]`)).toBe(true);
  });

  it("named and parallel_tool_calls false: exactly one call", () => {
    const named = toolGrammar(
      resolveTools({ tools: [WEATHER, NOW], tool_choice: { type: "function", function: { name: "now" } } }) as ToolConfig,
      null,
    );
    const re = named!.b.toRegExp(named!.root);
    expect(re.test("[now()]")).toBe(true);
    expect(re.test("[now(), now()]") || re.test('[get_weather(city="x")]')).toBe(false);
    const single = toolGrammar(
      resolveTools({ tools: [WEATHER, NOW], tool_choice: "required", parallel_tool_calls: false }) as ToolConfig,
      null,
    );
    const re1 = single!.b.toRegExp(single!.root);
    expect(re1.test('[get_weather(city="x")]') && !re1.test("[now(), now()]")).toBe(true);
  });

  it("auto: unconstrained, unless a tool is strict or a JSON response format is asked for", () => {
    expect(chatGrammar(resolveTools({ tools: [WEATHER] }), null)).toBeUndefined();
    expect(chatGrammar(resolveTools({ tools: [WEATHER], tool_choice: "none" }), { type: "json_object" })).toMatch(/^root ::= object$/m);
    const strict = toolGrammar(
      resolveTools({ tools: [{ ...WEATHER, function: { ...WEATHER.function, strict: true } }] }) as ToolConfig,
      null,
    );
    const re = strict!.b.toRegExp(strict!.root);
    for (const ok of ['[get_weather(city="Oslo")]', "Hello there!", "It is [probably] fine"]) expect(re.test(ok), ok).toBe(true);
    for (const bad of ["[get_weather(city=1)]", "[1, 2]", " leading space", ""]) expect(re.test(bad), bad).toBe(false);
    // Non-strict tools next to a strict one take any literal keyword arguments.
    expect(chatGrammar(resolveTools({ tools: [{ ...WEATHER, function: { ...WEATHER.function, strict: true } }, NOW] }), null)).toMatch(
      /^call-now ::= "now\(" members(-\d+)? "\)"$/m,
    );
  });

  it("grammars are cached and unsupported parameter schemas are a 400 on the tool", () => {
    const cfg = resolveTools({ tools: [WEATHER], tool_choice: "required" });
    expect(chatGrammar(cfg, null)).toBe(chatGrammar(resolveTools({ tools: [structuredClone(WEATHER)], tool_choice: "required" }), null));
    const bad = resolveTools({
      tools: [
        NOW,
        { type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "string", pattern: "x" } } } } },
      ],
      tool_choice: "required",
    });
    const err = thrown(() => chatGrammar(bad, null));
    expect(err.param).toBe("tools[1].function.parameters");
    expect(err.message).toContain("tools[1].function.parameters.properties.a: 'pattern' is not supported");
    // auto without strict never converts schemas, so it never refuses them.
    expect(
      chatGrammar(
        resolveTools({
          tools: [NOW, { type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { pattern: "x" } } } } }],
        }),
        null,
      ),
    ).toBeUndefined();
  });
});

describe("OpenAI output shapes", () => {
  const opts = { ...parserOptions(resolveTools({ tools: [WEATHER, NOW] }) as ToolConfig), newId: () => "call_1" };

  it("a non-streamed message: content null with calls, text otherwise; finish_reason tool_calls only after a natural stop", () => {
    expect(chatMessage('[get_weather(city="Oslo")]', opts)).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Oslo"}' } }],
    });
    expect(chatMessage("Hi", opts)).toEqual({ role: "assistant", content: "Hi", tool_calls: [] });
    expect(chatMessage("Hi", null)).toEqual({ role: "assistant", content: "Hi", tool_calls: [] });
    expect([toolFinishReason("stop", true), toolFinishReason("length", true), toolFinishReason("stop", false)]).toEqual([
      "tool_calls",
      "length",
      "stop",
    ]);
  });

  it("streamed deltas: id/type/name first with empty arguments, then argument fragments, all under one index", () => {
    const s = new ToolDeltaStream(opts);
    const deltas = [...s.push("[get_weather("), ...s.push('city="Os'), ...s.push('lo"), now()]'), ...s.finish()];
    expect(deltas).toEqual([
      { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city": "Os' } }] },
      {
        tool_calls: [
          { index: 0, function: { arguments: 'lo"}' } },
          { index: 1, id: "call_1", type: "function", function: { name: "now", arguments: "{}" } },
        ],
      },
    ]);
    expect(s.calledTools).toBe(true);
  });
});
