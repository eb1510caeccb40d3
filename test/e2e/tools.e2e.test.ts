/**
 * Tool calling and structured output end to end on the embedded random-weight Llama 4, through the
 * official `openai` client. Random weights produce noise, so whatever is valid here is valid because
 * the grammar forced it: `tool_choice` required/named give well-formed calls whose arguments match
 * the schema, `json_schema` gives JSON that validates. Grammar-constrained steps mask the 202k
 * vocabulary (hundreds of ms each on a small CPU), so outputs are kept short.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHerd, type HerdServer } from "./helpers/herd-server.js";

const MODEL = "herd-llama4-random";
const ajv = new Ajv2020({ strict: false });

const WEATHER_PARAMS = {
  type: "object",
  properties: { city: { enum: ["Oslo", "Rio"] }, unit: { enum: ["c", "f"] }, days: { type: "integer", minimum: 1, maximum: 7 } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const MODE_PARAMS = { type: "object", properties: { on: { type: "boolean" } }, required: ["on"] };
const TOOLS: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Weather forecast for a city", parameters: WEATHER_PARAMS } },
  { type: "function", function: { name: "set_mode", description: "Switch the mode", parameters: MODE_PARAMS } },
];

describe("tools and structured output e2e (embedded Llama 4)", () => {
  let server: HerdServer;
  let client: OpenAI;

  beforeAll(async () => {
    server = await startHerd([]);
    client = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("tool_choice required: a valid call even from random weights, finish_reason tool_calls", async () => {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Weather in Oslo for two days?" }],
      tools: TOOLS,
      tool_choice: "required",
      parallel_tool_calls: false,
      max_tokens: 60,
      temperature: 0,
    });
    const choice = r.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe("function");
    expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(["get_weather", "set_mode"]).toContain(call.function.name);
    const args = JSON.parse(call.function.arguments);
    const schema = call.function.name === "get_weather" ? WEATHER_PARAMS : MODE_PARAMS;
    expect(ajv.validate(schema, args), call.function.arguments).toBe(true);
  });

  it("named tool_choice streams id and name first, then argument fragments (the SDK's stream helper assembles them)", async () => {
    const stream = client.chat.completions.stream({
      model: MODEL,
      messages: [{ role: "user", content: "Turn it on" }],
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "set_mode" } },
      max_tokens: 30,
      temperature: 0,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let content = "";
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      content += chunk.choices[0]?.delta.content ?? "";
    }
    const final = await stream.finalChatCompletion();
    expect(content).toBe("");
    expect(deltas[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^call_/), type: "function", function: { name: "set_mode" } });
    expect(deltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined)).toBe(true);
    expect(deltas.map((d) => d.function?.arguments ?? "").join("")).toMatch(/^\{"on": (true|false)\}$/);
    const call = final.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe("set_mode");
    expect(typeof JSON.parse(call.function.arguments).on).toBe("boolean");
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
  });

  it("response_format json_schema (strict): JSON that validates against the schema", async () => {
    const schema = {
      type: "object",
      properties: { ok: { type: "boolean" }, n: { type: "integer", minimum: 0, maximum: 99 } },
      required: ["ok", "n"],
      additionalProperties: false,
    };
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Answer in JSON" }],
      response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
      max_tokens: 40,
      temperature: 0,
    });
    expect(r.choices[0]!.finish_reason).toBe("stop");
    const text = r.choices[0]!.message.content ?? "";
    expect(ajv.validate(schema, JSON.parse(text)), text).toBe(true);
  });

  it("response_format json_object starts a JSON object; auto tool choice leaves noise as content", async () => {
    const obj = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "JSON please" }],
      response_format: { type: "json_object" },
      max_tokens: 2,
      temperature: 0,
    });
    expect(obj.choices[0]!.message.content).toMatch(/^\{/);
    const auto = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Hi" }],
      tools: TOOLS,
      max_tokens: 4,
      temperature: 0,
    });
    expect(auto.choices[0]!.finish_reason).toBe("length");
    expect(typeof auto.choices[0]!.message.content).toBe("string");
    expect(auto.choices[0]!.message.tool_calls).toEqual([]);
  });

  it("multi-turn tool conversation round-trips: calls rendered back in pythonic form, results as ipython, prompt = /tokenize", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather in Oslo and Rio?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Oslo", "unit": "c"}' } },
          { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city": "Rio", "unit": "c", "days": 2}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "4 C, snow" },
      { role: "tool", tool_call_id: "call_2", content: '{"temp_c": 31}' },
    ];
    const res = await server.fetch("/tokenize", {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages, tools: TOOLS, return_token_strs: true }),
    });
    expect(res.status).toBe(200);
    const tok = (await res.json()) as { count: number; token_strs: string[] };
    const text = tok.token_strs.join("");
    expect(text).toContain("<|header_start|>system<|header_end|>\n\nBe brief.\n\nYou are an expert in composing functions.");
    expect(text).toContain('"name": "get_weather",\n        "description": "Weather forecast for a city"');
    expect(text).toContain(
      '<|header_start|>assistant<|header_end|>\n\n[get_weather(city="Oslo", unit="c"), get_weather(city="Rio", unit="c", days=2)]<|eot|>',
    );
    expect(text).toContain(
      '<|header_start|>ipython<|header_end|>\n\n4 C, snow<|eot|><|header_start|>ipython<|header_end|>\n\n{"temp_c": 31}<|eot|>',
    );
    expect(text.endsWith("<|header_start|>assistant<|header_end|>\n\n")).toBe(true);
    const r = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, max_tokens: 1 });
    expect(r.usage?.prompt_tokens).toBe(tok.count);
  });

  it("/tokenize counts chat's prompt: tool_choice and parallel_tool_calls shape it the same for both", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Oslo?" }];
    const tokenize = async (extra: object) => {
      const res = await server.fetch("/tokenize", {
        method: "POST",
        body: JSON.stringify({ model: MODEL, messages, tools: TOOLS, ...extra }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { count: number; tokens: number[] };
    };
    const auto = await tokenize({});
    const variants: Array<Pick<OpenAI.ChatCompletionCreateParams, "tool_choice" | "parallel_tool_calls">> = [
      { tool_choice: "required" },
      { tool_choice: "required", parallel_tool_calls: false },
      { tool_choice: { type: "function", function: { name: "get_weather" } } },
    ];
    for (const v of variants) {
      const tok = await tokenize(v);
      expect(tok.tokens, JSON.stringify(v)).not.toEqual(auto.tokens); // the field reached /tokenize's prompt
      const r = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, ...v, max_tokens: 1, temperature: 0 });
      expect(r.usage?.prompt_tokens, JSON.stringify(v)).toBe(tok.count);
    }
  });

  it("grammars for many schema features compile in llama.cpp and constrain the first token", async () => {
    const schemas: Record<string, unknown>[] = [
      { type: "string", format: "date-time" },
      {
        type: "array",
        prefixItems: [
          { type: "string", format: "uuid" },
          { type: "integer", minimum: -40, maximum: 1234 },
        ],
        items: false,
      },
      {
        $defs: {
          node: {
            type: "object",
            properties: { v: { type: "number" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } },
            required: ["v"],
          },
        },
        $ref: "#/$defs/node",
      },
      {
        anyOf: [
          { type: "null" },
          {
            type: "object",
            properties: { s: { type: "string", minLength: 1, maxLength: 5 } },
            required: ["s"],
            additionalProperties: { type: "boolean" },
          },
        ],
      },
    ];
    for (const [i, schema] of schemas.entries()) {
      const r = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "x" }],
        response_format: { type: "json_schema", json_schema: { name: `s${i}`, schema } },
        max_tokens: 1,
        temperature: 0,
      });
      expect(r.choices[0]!.message.content, JSON.stringify(schema)).toMatch(i === 0 ? /^"/ : i === 1 ? /^\[/ : i === 2 ? /^\{/ : /^(n|\{)/);
    }
  });

  it("refuses what it cannot enforce with 400s that name the feature", async () => {
    await expect(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "x" }],
        response_format: {
          type: "json_schema",
          json_schema: { name: "x", schema: { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]{3}$" } } } },
        },
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({
      status: 400,
      param: "response_format.json_schema.schema",
      code: "unsupported_schema",
      message: expect.stringContaining("properties.code: 'pattern' is not supported"),
    });
    await expect(
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "x" }],
        tools: TOOLS,
        tool_choice: { type: "function", function: { name: "nope" } },
        max_tokens: 1,
      }),
    ).rejects.toMatchObject({ status: 400, param: "tool_choice" });
  });
});
