/**
 * A request's `tools`, `tool_choice` and `parallel_tool_calls`, checked once and resolved into what
 * the prompt builder, the grammar builder and the output parser need.
 *
 * - `none`: tools are not shown to the model and the output is plain content;
 * - `auto` (the default when tools are given): the model decides; its output is parsed for calls;
 * - `required`: at least one call (exactly one with `parallel_tool_calls: false`), forced by a grammar;
 * - `{type: "function", function: {name}}`: exactly one call of that function, forced by a grammar.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import { ToolChoiceSchema, ToolSchema } from "../../protocol/chat.js";
import { issueToError } from "../validation.js";

export interface ToolSpec {
  name: string;
  description: string | undefined;
  parameters: Record<string, unknown> | undefined;
  strict: boolean;
}

export type ToolChoice = { kind: "none" } | { kind: "auto" } | { kind: "required" } | { kind: "named"; name: string };

export interface ToolConfig {
  tools: ToolSpec[];
  choice: ToolChoice;
  /** `parallel_tool_calls` (default true): false allows one call per response. */
  parallel: boolean;
}

/** Whether tools are shown to the model and its output is parsed for calls. */
export const toolsActive = (c: ToolConfig | null): c is ToolConfig => c !== null && c.tools.length > 0 && c.choice.kind !== "none";

/** OpenAI's rule for function names (they also have to parse back out of the model's calls). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface ToolInput {
  tools?: unknown[] | null | undefined;
  tool_choice?: unknown;
  parallel_tool_calls?: boolean | null | undefined;
}

/** Checks and resolves the request's tool fields; null when it has none. Throws 400 naming the field. */
export function resolveTools(input: ToolInput): ToolConfig | null {
  const raw = input.tools ?? [];
  const tools: ToolSpec[] = raw.map((t, i) => {
    const parsed = ToolSchema.safeParse(t, { reportInput: true });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      if (!issue) throw new InvalidRequestError(`'tools[${i}]' is not a valid tool.`, { param: `tools[${i}]` });
      throw issueToError({ ...issue, path: ["tools", i, ...issue.path] });
    }
    const f = parsed.data.function;
    if (!NAME.test(f.name)) {
      throw new InvalidRequestError(
        `'tools[${i}].function.name' must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-' ` +
          `(got ${JSON.stringify(f.name.slice(0, 80))}).`,
        {
          param: `tools[${i}].function.name`,
          code: "invalid_parameter",
        },
      );
    }
    const p = f.parameters ?? undefined;
    if (p !== undefined && p["type"] !== undefined && p["type"] !== "object") {
      throw new InvalidRequestError(`'tools[${i}].function.parameters' must be a JSON Schema of type 'object'.`, {
        param: `tools[${i}].function.parameters`,
        code: "invalid_parameter",
      });
    }
    return { name: f.name, description: f.description ?? undefined, parameters: p, strict: f.strict ?? false };
  });
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (seen.has(t.name)) {
      throw new InvalidRequestError(`'tools[${i}].function.name' repeats the name '${t.name}'; function names must be unique.`, {
        param: `tools[${i}].function.name`,
        code: "invalid_parameter",
      });
    }
    seen.add(t.name);
  });

  let choice: ToolChoice;
  const tc = input.tool_choice;
  if (tc === null || tc === undefined) choice = { kind: tools.length > 0 ? "auto" : "none" };
  else {
    const parsed = ToolChoiceSchema.safeParse(tc);
    if (!parsed.success) {
      throw new InvalidRequestError(`'tool_choice' must be 'none', 'auto', 'required' or {type: "function", function: {name}}.`, {
        param: "tool_choice",
        code: "invalid_parameter",
      });
    }
    const v = parsed.data;
    choice = typeof v === "string" ? { kind: v } : { kind: "named", name: v.function.name };
  }
  if ((choice.kind === "required" || choice.kind === "named") && tools.length === 0) {
    throw new InvalidRequestError(`'tool_choice' ${choice.kind === "required" ? "'required'" : "naming a function"} needs 'tools'.`, {
      param: "tool_choice",
      code: "invalid_parameter",
    });
  }
  if (choice.kind === "named" && !seen.has(choice.name)) {
    const name = choice.name;
    throw new InvalidRequestError(`'tool_choice' names the function '${name.slice(0, 80)}', which is not in 'tools'.`, {
      param: "tool_choice",
      code: "invalid_parameter",
    });
  }
  if (tools.length === 0 && choice.kind === "none") return null;
  return { tools, choice, parallel: input.parallel_tool_calls ?? true };
}
