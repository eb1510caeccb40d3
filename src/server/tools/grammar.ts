/**
 * The grammar a chat request generates under, if any:
 *
 * - `tool_choice: "required"` → `[f(a=…), g(…)]`, one or more calls of the listed functions
 *   (exactly one with `parallel_tool_calls: false`); named → `[name(…)]`, exactly one call. Every
 *   argument value is constrained by the function's JSON Schema in the Python-literal dialect
 *   (strings in double quotes, numbers, True/False/None, lists, dicts; properties in schema
 *   order); unsupported schema features are a 400 on `tools[i].function.parameters`.
 *   `response_format` has nothing to constrain then (the answer is calls) and is not applied.
 * - `auto` with a `strict: true` tool → a call list (strict tools schema-constrained, others any
 *   literal keyword arguments) or free text that does not start with `[`.
 * - `auto` with a JSON `response_format` → a call list or the JSON the format asks for.
 * - otherwise: the `response_format` grammar, or none.
 * Grammars are cached by a hash of everything that shapes them.
 * @module
 */
import { hashKey, LruCache } from "../structured/cache.js";
import { alt, cls, GrammarBuilder, list, lit, type Node, seq, star } from "../structured/gbnf.js";
import { SchemaConverter } from "../structured/json-schema.js";
import {
  finishGrammar,
  refuseIssues,
  withGrammarLimit,
  type ResponseFormat,
  responseFormatGrammar,
  responseFormatRoot,
} from "../structured/response-format.js";
import { type ToolConfig, toolsActive, type ToolSpec } from "./config.js";

const cache = new LruCache<string | null>(256);

function callNode(b: GrammarBuilder, tool: ToolSpec, index: number, constrained: boolean): Node {
  const param = `tools[${index}].function.parameters`;
  const schema = constrained ? tool.parameters : { type: "object", additionalProperties: true };
  const conv = new SchemaConverter(b, schema, "python", param);
  const kwargs = conv.kwargs(schema, param);
  refuseIssues(conv.issues, param);
  return b.rule(`call-${tool.name}`, seq(lit(`${tool.name}(`), kwargs, lit(")")));
}

function callList(b: GrammarBuilder, cfg: ToolConfig, constrain: (t: ToolSpec) => boolean): Node {
  const named = cfg.choice.kind === "named" ? cfg.choice.name : null;
  const calls = cfg.tools.flatMap((t, i) => (named === null || t.name === named ? [callNode(b, t, i, constrain(t))] : []));
  const call = b.rule("call", alt(...calls));
  const many = cfg.parallel && named === null;
  return seq(lit("["), many ? list(call, seq(lit(","), b.rule("sp", alt(lit(" "), lit("")))), 1, null) : call, lit("]"));
}

/** The grammar's rules and root for active tools (null = unconstrained); exported for tests. */
export function toolGrammar(cfg: ToolConfig, rf: ResponseFormat | null): { b: GrammarBuilder; root: Node; param: string } | null {
  const b = new GrammarBuilder();
  const kind = cfg.choice.kind;
  if (kind === "required" || kind === "named") return { b, root: callList(b, cfg, () => true), param: "tools" };
  const strict = cfg.tools.some((t) => t.strict);
  const json = rf !== null && rf.type !== "text";
  if (!strict && !json) return null;
  const calls = callList(b, cfg, (t) => t.strict);
  const other = json ? (responseFormatRoot(b, rf) as Node) : seq(cls("[^[ \\t\\n\\r]"), star(cls("[^\\x00]")));
  return { b, root: alt(calls, other), param: json ? "response_format" : "tools" };
}

function build(cfg: ToolConfig, rf: ResponseFormat | null): string | null {
  return withGrammarLimit("tools", () => {
    const g = toolGrammar(cfg, rf);
    return g === null ? null : finishGrammar(g.b, g.root, g.param);
  });
}

/** The grammar for this request's tools and response format; undefined = unconstrained. */
export function chatGrammar(cfg: ToolConfig | null, rf: ResponseFormat | null | undefined): string | undefined {
  if (!toolsActive(cfg)) return responseFormatGrammar(rf);
  const key = hashKey(["tools", cfg.tools, cfg.choice, cfg.parallel, rf ?? null]);
  return cache.getOrCreate(key, () => build(cfg, rf ?? null)) ?? undefined;
}
