import { describe, expect, it } from "vitest";
import { type ParsedToolCall, parseToolCalls, pythonNumberToJson, ToolCallParser, type ToolCallParserOptions } from "./pythonic-parser.js";

type Call = { name: string; arguments: string };

const ids = () => {
  let n = 0;
  return () => `call_${n++}`;
};

/** Feeds `chunks` and rebuilds what a streaming client sees. `contentBeforeFinish` excludes text released only by finish(). */
function stream(chunks: readonly string[], opts: ToolCallParserOptions = {}) {
  const p = new ToolCallParser({ newId: ids(), ...opts });
  let content = "";
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  const apply = (events: ReturnType<ToolCallParser["push"]>) => {
    for (const e of events) {
      if (e.type === "content") content += e.text;
      else if (e.type === "call") {
        expect(e.index).toBe(calls.length);
        calls.push({ id: e.id, name: e.name, arguments: "" });
      } else {
        const c = calls[e.index];
        if (!c) throw new Error(`args for unknown call ${e.index}`);
        c.arguments += e.text;
      }
    }
  };
  for (const c of chunks) apply(p.push(c));
  const contentBeforeFinish = content;
  apply(p.finish());
  return { content, contentBeforeFinish, calls, failed: p.failed };
}

const strip = (calls: readonly ParsedToolCall[] | ReadonlyArray<{ name: string; arguments: string }>): Call[] =>
  calls.map((c) => ({ name: c.name, arguments: c.arguments }));

/** Every split into two chunks, and one character at a time. */
function splits(text: string): string[][] {
  const chars = [...text];
  const out: string[][] = [[text], chars];
  for (let i = 1; i < chars.length; i++) out.push([chars.slice(0, i).join(""), chars.slice(i).join("")]);
  return out;
}

/** The streaming result is the same for every split, and the same calls as the non-streaming parse. */
function expectStreamingAgrees(text: string, opts: ToolCallParserOptions = {}): void {
  const whole = parseToolCalls(text, { newId: ids(), ...opts });
  const ref = stream([text], opts);
  for (const chunks of splits(text)) {
    const s = stream(chunks, opts);
    expect({ content: s.content, calls: strip(s.calls) }, JSON.stringify(chunks)).toEqual({
      content: ref.content,
      calls: strip(ref.calls),
    });
  }
  if (!ref.failed) {
    expect(strip(ref.calls)).toEqual(strip(whole.toolCalls));
    expect(ref.content).toBe(whole.content ?? (ref.content.trim() === "" ? ref.content : ""));
  }
}

// ---- vLLM's llama4_pythonic test cases (tests/tool_parsers/test_llama4_pythonic_tool_parser.py) ----

const SIMPLE = { name: "get_weather", arguments: '{"city": "LA", "metric": "C"}' };
const MORE_TYPES = {
  name: "register_user",
  arguments:
    '{"name": "Doe", "age": 9, "address": {"city": "LA", "state": "CA"}, "role": null, "passed_test": true, "aliases": ["John", "Johnny"]}',
};
const PARAMETERLESS = { name: "get_weather", arguments: "{}" };
const EMPTY_DICT = { name: "do_something_cool", arguments: '{"additional_data": {}}' };
const EMPTY_LIST = { name: "do_something_cool", arguments: '{"steps": []}' };
const ESCAPED = { name: "get_weather", arguments: '{"city": "Martha\'s Vineyard", "metric": "\\"cool units\\""}' };
const REGISTER = { name: "register_user", arguments: '{"name": "Doe", "age": 9}' };

const VLLM_CASES: Array<[string, string, Call[]]> = [
  ["simple", "[get_weather(city='LA', metric='C')]", [SIMPLE]],
  [
    "more types",
    "[register_user(name='Doe', age=9, address={'city': 'LA', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])]",
    [MORE_TYPES],
  ],
  ["parameterless", "[get_weather()]", [PARAMETERLESS]],
  ["empty dict", "[do_something_cool(additional_data={})]", [EMPTY_DICT]],
  ["empty list", "[do_something_cool(steps=[])]", [EMPTY_LIST]],
  ["escaped string", String.raw`[get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')]`, [ESCAPED]],
  ["parallel calls", "[get_weather(city='LA',metric='C'),register_user(name='Doe',age=9)]", [SIMPLE, REGISTER]],
  ["python tag", "<|python_start|>[get_weather(city='LA', metric='C')]<|python_end|>", [SIMPLE]],
  [
    "python tag, parallel, no end tag",
    "<|python_start|>[get_weather(city='LA', metric='C'),register_user(name='Doe', age=9)]",
    [SIMPLE, REGISTER],
  ],
  [
    "large steps",
    "<|python_start|>[get_weather(city='LA', metric='C'), get_weather(), do_something_cool(steps=[])]<|python_end|>",
    [SIMPLE, PARAMETERLESS, EMPTY_LIST],
  ],
];

describe("vLLM llama4_pythonic cases", () => {
  it("no tool call: the text is content, streaming or not", () => {
    const text = "How can I help you today?";
    expect(parseToolCalls(text)).toEqual({ content: text, toolCalls: [] });
    expect(stream([...text])).toMatchObject({ content: text, calls: [] });
  });

  for (const [name, text, expected] of VLLM_CASES) {
    it(`${name}: non-streaming, and streaming split at every character boundary`, () => {
      const r = parseToolCalls(text);
      expect(strip(r.toolCalls)).toEqual(expected);
      expect(r.content).toBeNull();
      expectStreamingAgrees(text);
      expect(stream([...text]).content).toBe("");
    });
  }

  it("streams the large-steps case in one delta, with no other content", () => {
    const s = stream([VLLM_CASES[9]![1]]);
    expect(s.content).toBe("");
    expect(strip(s.calls)).toEqual([SIMPLE, PARAMETERLESS, EMPTY_LIST]);
  });

  it("the regex-timeout input is plain text", () => {
    const text = "hello world[A(A=\t)A(A=,\t\t)A(A=,\t";
    expect(parseToolCalls(text)).toEqual({ content: text, toolCalls: [] });
  });

  it("a call whose argument is not a JSON value (bytes, 1e999) makes the whole output content (vLLM drops just that call)", () => {
    for (const text of [
      "<|python_start|>[bad(x=b'z'), get_weather(city='LA', metric='C')]<|python_end|>",
      "[calc(x=1e999), get_weather(city='LA', metric='C')]",
    ]) {
      expect(parseToolCalls(text)).toEqual({ content: text, toolCalls: [] });
    }
  });

  it("mismatched brackets are content, never a call", () => {
    const text = "<|python_start|>[foo(x=1])]<|python_end|>";
    expect(parseToolCalls(text)).toEqual({ content: text, toolCalls: [] });
  });

  it("gives every call an id", () => {
    const r = parseToolCalls("[a(), b()]");
    expect(r.toolCalls.map((c) => c.id)).toEqual([
      expect.stringMatching(/^call_[A-Za-z0-9]{24}$/),
      expect.stringMatching(/^call_[A-Za-z0-9]{24}$/),
    ]);
    expect(r.toolCalls[0]?.id).not.toBe(r.toolCalls[1]?.id);
  });
});

// ---- the failures users reported ----

const WEATHER = new Set(["get_weather", "get_todays_date", "search_documents", "brave_web_search", "Bash"]);

describe("vLLM issues", () => {
  it("#22917: calls after raw content are still calls; the text stays content", () => {
    const text =
      "To determine the weather on April 14, I will check the date first.\n\n" +
      '[get_todays_date(), get_weather(location="Dublin, Ireland", date="2025-04-14")]';
    const r = parseToolCalls(text, { toolNames: WEATHER });
    expect(r.content).toBe("To determine the weather on April 14, I will check the date first.");
    expect(strip(r.toolCalls)).toEqual([
      { name: "get_todays_date", arguments: "{}" },
      { name: "get_weather", arguments: '{"location": "Dublin, Ireland", "date": "2025-04-14"}' },
    ]);
    expectStreamingAgrees(text, { toolNames: WEATHER });
  });

  it("#22917: the deltas from the issue stream as calls", () => {
    const deltas = [
      "[get",
      "_t",
      "od",
      "ays",
      "_date",
      "(),",
      " get",
      "_weather",
      "(location",
      '="',
      "D",
      "ublin",
      ",",
      " Ireland",
      '",',
      " date",
      '="',
      "202",
      "5",
      "-",
      "04",
      "-",
      "14",
      '")]',
    ];
    const s = stream(deltas, { toolNames: WEATHER });
    expect(s.content).toBe("");
    expect(strip(s.calls)).toEqual([
      { name: "get_todays_date", arguments: "{}" },
      { name: "get_weather", arguments: '{"location": "Dublin, Ireland", "date": "2025-04-14"}' },
    ]);
  });

  it("#30722: nested lists and dicts in arguments parse", () => {
    const text =
      '[search_documents(rephrased_queries=["kubernetes pod eviction", "node pressure"], ' +
      'filters={"tags": [["a", "b"], []], "k": {"deep": [1, {"x": None}]}})]';
    const r = parseToolCalls(text);
    expect(r.toolCalls).toHaveLength(1);
    expect(JSON.parse(r.toolCalls[0]!.arguments)).toEqual({
      rephrased_queries: ["kubernetes pod eviction", "node pressure"],
      filters: { tags: [["a", "b"], []], k: { deep: [1, { x: null }] } },
    });
    expectStreamingAgrees(text);
  });

  it("#30722: a call list whose closing ] never came keeps its complete calls", () => {
    const text = '[search_documents(rephrased_queries=["a", "b"])';
    const r = parseToolCalls(text);
    expect(strip(r.toolCalls)).toEqual([{ name: "search_documents", arguments: '{"rephrased_queries": ["a", "b"]}' }]);
    expect(r.content).toBeNull();
    expectStreamingAgrees(text);
  });

  it("#16214: JSON calls wrapped in <|python_start|> are calls", () => {
    const text = '<|python_start|>{"name": "brave_web_search", "parameters": {"query": "latest news"}}<|python_end|>';
    const r = parseToolCalls(text, { toolNames: WEATHER });
    expect(r).toEqual({
      content: null,
      toolCalls: [{ id: expect.any(String), name: "brave_web_search", arguments: '{"query": "latest news"}' }],
    });
    expectStreamingAgrees(text, { toolNames: WEATHER });
  });

  it("#46863: JSON calls with type/parameters, arguments, several objects, or a JSON list", () => {
    const cases: Array<[string, Call[]]> = [
      [
        '{"type": "function", "name": "Bash", "parameters": {"command": "echo hello", "timeout": 12000}}',
        [{ name: "Bash", arguments: '{"command": "echo hello", "timeout": 12000}' }],
      ],
      ['{"name": "Bash", "arguments": {"command": "ls"}}', [{ name: "Bash", arguments: '{"command": "ls"}' }]],
      ['{"name": "Bash", "arguments": "{\\"command\\": \\"ls\\"}"}', [{ name: "Bash", arguments: '{"command": "ls"}' }]],
      [
        '{"name": "Bash", "parameters": {"command": "a"}}; {"name": "Bash", "parameters": {"command": "b"}}',
        [
          { name: "Bash", arguments: '{"command": "a"}' },
          { name: "Bash", arguments: '{"command": "b"}' },
        ],
      ],
      [
        '[{"name": "Bash", "parameters": {"command": "a"}}, {"name": "get_todays_date", "parameters": {}}]',
        [
          { name: "Bash", arguments: '{"command": "a"}' },
          { name: "get_todays_date", arguments: "{}" },
        ],
      ],
    ];
    for (const [text, expected] of cases) {
      expect(strip(parseToolCalls(text, { toolNames: WEATHER }).toolCalls), text).toEqual(expected);
      expectStreamingAgrees(text, { toolNames: WEATHER });
    }
  });

  it("#46863: JSON that is not a call stays content, however it is split", () => {
    for (const text of [
      '{"name": "Alice", "age": 3}',
      '{"answer": 42}',
      '{"name": "Bash", "parameters": {"command": "ls"',
      '{"name": "Bash", "parameters": {}} and more text',
      "[1, 2, 3]",
      '[{"a": 1}]',
    ]) {
      const r = parseToolCalls(text, { toolNames: WEATHER });
      if (text.includes("more text")) {
        expect(strip(r.toolCalls)).toEqual([{ name: "Bash", arguments: "{}" }]);
        expect(r.content).toBe(" and more text");
      } else expect(r, text).toEqual({ content: text, toolCalls: [] });
      expectStreamingAgrees(text, { toolNames: WEATHER });
      for (const chunks of splits(text))
        expect(stream(chunks, { toolNames: WEATHER }).content + "").toBe(stream([text], { toolNames: WEATHER }).content);
    }
  });
});

// ---- literals ----

describe("Python literals → JSON", () => {
  const args = (text: string) => {
    const r = parseToolCalls(`[f(${text})]`);
    expect(r.toolCalls, text).toHaveLength(1);
    return r.toolCalls[0]!.arguments;
  };

  it("numbers: ints, floats, signs, underscores, hex/octal/binary, exponents", () => {
    expect(args("a=0, b=-3, c=+4, d=1_000, e=0x1F, f=0o17, g=0b101, h=-0x10")).toBe(
      '{"a": 0, "b": -3, "c": 4, "d": 1000, "e": 31, "f": 15, "g": 5, "h": -16}',
    );
    expect(args("a=1.5, b=5., c=.5, d=1e5, e=2.5E-3, f=-0.0, g=007.5, h=12345678901234567890")).toBe(
      '{"a": 1.5, "b": 5.0, "c": 0.5, "d": 1e5, "e": 2.5e-3, "f": -0.0, "g": 7.5, "h": 12345678901234567890}',
    );
    for (const bad of ["007", "1__0", "1e", "0x", ".", "1.2.3", "inf", "-inf", "1e999"]) expect(pythonNumberToJson(bad), bad).toBeNull();
  });

  it("strings: both quotes, triple quotes, escapes, raw and u prefixes, unicode", () => {
    expect(
      JSON.parse(
        args(String.raw`a="x\ny", b='it\'s', c="tab\there", d="\x41\u00e9\U0001F600\101\0", e='''multi
line "quoted"''', f=r"C:\path\n", g=u"ü", h="日本語 😀", i="a\
b", j="\q"`),
      ),
    ).toEqual({
      a: "x\ny",
      b: "it's",
      c: "tab\there",
      d: "Aé😀A\u0000",
      e: 'multi\nline "quoted"',
      f: "C:\\path\\n",
      g: "ü",
      h: "日本語 😀",
      i: "ab",
      j: "\\q",
    });
    expect(args('a="", b=\'\', c=""""""')).toBe('{"a": "", "b": "", "c": ""}');
  });

  it("True/False/None and JSON's true/false/null; nested containers; trailing commas; number dict keys", () => {
    expect(args("a=True, b=False, c=None, d=true, e=false, f=null")).toBe(
      '{"a": true, "b": false, "c": null, "d": true, "e": false, "f": null}',
    );
    expect(args("a=[1, [2, [3, []]], {}], b={'k': {'n': [None]}, 1: 'one', 2.5: 'x',}, c=[1, 2,],")).toBe(
      '{"a": [1, [2, [3, []]], {}], "b": {"k": {"n": [null]}, "1": "one", "2.5": "x"}, "c": [1, 2]}',
    );
    expect(args(" a = 1 ,\n  b = [ 1 , 2 ] ")).toBe('{"a": 1, "b": [1, 2]}');
  });

  it("anything that is not a literal makes the output content: variables, expressions, calls, tuples, sets, positional args", () => {
    for (const bad of [
      "x=y",
      "x=1+2",
      "x=g()",
      "x=(1, 2)",
      "x={1, 2}",
      "1",
      "x=b'z'",
      "x=f'{y}'",
      'x="\\N{DASH}"',
      "x=[1 2]",
      "x={'a' 1}",
      "x={1: }",
    ]) {
      const text = `[f(${bad})]`;
      expect(parseToolCalls(text), bad).toEqual({ content: text, toolCalls: [] });
    }
  });
});

// ---- streaming behaviour ----

describe("streaming", () => {
  const tools = { toolNames: new Set(["get_weather", "search"]) };

  it("plain text flows through at once: nothing that turns out to be text is held back or lost", () => {
    for (const text of [
      "Hello world, how are you?",
      "Use arrays like a[0] and [1, 2]; see [docs](http://x).",
      "<b>bold</b> and <|eot|> text",
      "gets the search results",
      "{not json",
      "  leading and trailing  \n",
    ]) {
      const p = new ToolCallParser(tools);
      let out = "";
      let sofar = "";
      for (const ch of text) {
        sofar += ch;
        for (const e of p.push(ch)) if (e.type === "content") out += e.text;
        expect(sofar.startsWith(out)).toBe(true);
      }
      for (const e of p.finish()) if (e.type === "content") out += e.text;
      expect(out).toBe(text);
      expect(parseToolCalls(text, tools)).toEqual({ content: text, toolCalls: [] });
    }
  });

  it("holds a possible call start only until it is disproven", () => {
    const p = new ToolCallParser(tools);
    expect(p.push("[")).toEqual([]);
    expect(p.push("get")).toEqual([]);
    expect(p.push("x")).toEqual([{ type: "content", text: "[getx" }]);
    const q = new ToolCallParser(tools);
    expect(q.push("Hi [")).toEqual([{ type: "content", text: "Hi" }]);
    expect(q.push("1")).toEqual([{ type: "content", text: " [1" }]);
  });

  it("emits the call id and name at the open parenthesis, then argument JSON as it is parsed", () => {
    const p = new ToolCallParser({ ...tools, newId: () => "call_x" });
    expect(p.push("[get_weather(")).toEqual([{ type: "call", index: 0, id: "call_x", name: "get_weather" }]);
    expect(p.push('city="Pa')).toEqual([{ type: "args", index: 0, text: '{"city": "Pa' }]);
    expect(p.push('ris", days=1')).toEqual([{ type: "args", index: 0, text: 'ris", "days": ' }]);
    expect(p.push("4)")).toEqual([{ type: "args", index: 0, text: "14}" }]);
    expect(p.push("]")).toEqual([]);
    expect(p.finish()).toEqual([]);
  });

  it("text before and after a call list is content; whitespace next to the list and <|python_end|> are not", () => {
    const text = 'Let me check.\n\n<|python_start|>[get_weather(city="Oslo")]<|python_end|>\n\nDone.';
    const s = stream([text], tools);
    expect(s.content).toBe("Let me check.\n\nDone.");
    expect(strip(s.calls)).toEqual([{ name: "get_weather", arguments: '{"city": "Oslo"}' }]);
    expectStreamingAgrees(text, tools);
    expect(parseToolCalls("[get_weather()]\n", tools).content).toBeNull();
  });

  it("a bare call at the start (no brackets) of a known function is a call", () => {
    const text = 'get_weather(city="Paris"), search(q="x")';
    expect(strip(parseToolCalls(text, tools).toolCalls)).toEqual([
      { name: "get_weather", arguments: '{"city": "Paris"}' },
      { name: "search", arguments: '{"q": "x"}' },
    ]);
    expectStreamingAgrees(text, tools);
    expect(parseToolCalls("get_weather is a tool", tools).toolCalls).toEqual([]);
    expect(parseToolCalls('I would call get_weather(city="x")', tools).toolCalls).toEqual([]);
  });

  it("unknown function names are text", () => {
    const text = '[delete_everything(confirm=True)] [get_weather(city="x")]';
    const r = parseToolCalls(text, tools);
    expect(r.content).toBe("[delete_everything(confirm=True)]");
    expect(strip(r.toolCalls)).toEqual([{ name: "get_weather", arguments: '{"city": "x"}' }]);
    expectStreamingAgrees(text, tools);
  });

  it("maxCalls 1 (parallel_tool_calls false): later calls stay text", () => {
    const text = '[get_weather(city="a"), search(q="b")]';
    const r = parseToolCalls(text, { ...tools, maxCalls: 1 });
    expect(strip(r.toolCalls)).toEqual([{ name: "get_weather", arguments: '{"city": "a"}' }]);
    expect(r.content).toBe(', search(q="b")]');
    expectStreamingAgrees(text, { ...tools, maxCalls: 1 });
  });

  it("JSON-style calls are off when asked (a JSON response format)", () => {
    const text = '{"name": "search", "parameters": {}}';
    expect(parseToolCalls(text, { ...tools, jsonCalls: false })).toEqual({ content: text, toolCalls: [] });
  });

  it("a call broken mid-stream: what was sent stays, the raw call text follows as content; non-streaming returns all as content", () => {
    const text = '[get_weather(city="Oslo", unit=celsius)] ok';
    const s = stream([...text], tools);
    expect(s.failed).toBe(true);
    expect(strip(s.calls)).toEqual([{ name: "get_weather", arguments: '{"city": "Oslo", "unit": ' }]);
    expect(s.content).toBe('get_weather(city="Oslo", unit=celsius)] ok');
    expect(parseToolCalls(text, tools)).toEqual({ content: text, toolCalls: [] });
    expectStreamingAgrees(text, tools);
  });

  it("output cut off inside a call: streamed fragments stay as they are (no invented closers); non-streaming returns content", () => {
    const text = '[get_weather(city="Os';
    const s = stream([text], tools);
    expect(s.failed).toBe(true);
    expect(s.calls[0]?.arguments).toBe('{"city": "Os');
    expect(parseToolCalls(text, tools)).toEqual({ content: text, toolCalls: [] });
  });

  it("never splits a surrogate pair across deltas", () => {
    const text = '[search(q="😀😀")]';
    const s = stream([...text], tools);
    expect(JSON.parse(s.calls[0]!.arguments)).toEqual({ q: "😀😀" });
  });

  it("a long mixed transcript agrees for every split", () => {
    const text =
      "Sure thing.\n[get_weather(city='Rio', extra={'hours': [1, 2, 3], 'note': \"a \\\"b\\\" c\"}), search(q='''x\ny''')]<|python_end|>" +
      "\nAnything else? [1] <|python_start|>nope";
    expectStreamingAgrees(text, tools);
    const r = parseToolCalls(text, tools);
    expect(r.toolCalls.map((c) => c.name)).toEqual(["get_weather", "search"]);
    expect(r.content).toBe("Sure thing.\nAnything else? [1] <|python_start|>nope");
  });
});
