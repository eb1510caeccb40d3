/**
 * Tool prompts in Llama 4's native style, built by herd rather than taken from a chat template
 * (the Hugging Face template asks for JSON calls, vLLM's pythonic one drops OpenAI-style `tools`
 * from the list; `../shared/reference/llama4.md` §3.3):
 *
 * - the system turn gets the instructions to answer with a Python-style call list and the function
 *   definitions as a JSON list (`{name, description, parameters}`, Meta's layout), after the
 *   caller's own system message when there is one;
 * - earlier assistant `tool_calls` are written back as that list, `[get_weather(city="Paris")]`,
 *   with real literals (not every value stringified);
 * - `tool` messages become `ipython` turns whose content is the tool's output as given.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import { pythonLiteral } from "../structured/literals.js";
import type { ToolConfig } from "./config.js";

/** The system-prompt block that lists the tools (tools are active). */
export function toolSystemPrompt(cfg: ToolConfig): string {
  const one = !cfg.parallel;
  const lines = [
    "You are an expert in composing functions. You can answer questions from your own knowledge, or call functions when that is needed.",
    "",
    "To call functions, answer with ONLY a Python-style list of calls and nothing else:",
    one ? "[func_name(param1=value1, param2=value2)]" : "[func_name1(param1=value1, param2=value2), func_name2(param=value)]",
    "Rules:",
    "- Call only functions from the list below, with keyword arguments.",
    "- Argument values are literals: strings in double quotes, numbers, True, False, None, lists and dicts. No variables or expressions.",
    one ? "- Call at most one function per response." : "- Several calls may go in one list; they run in parallel.",
    "- Never mix text and function calls in the same response.",
    "- If no function fits, or a required parameter is missing, answer in plain text (ask for what is missing).",
    "- Function results come back in ipython messages; use them to answer the user in natural language.",
  ];
  if (cfg.choice.kind === "required")
    lines.push(one ? "- In this response you MUST call exactly one function." : "- In this response you MUST call at least one function.");
  if (cfg.choice.kind === "named") lines.push(`- In this response you MUST call the function ${cfg.choice.name}.`);
  const defs = cfg.tools.map((t) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    parameters: t.parameters ?? { type: "object", properties: {} },
  }));
  lines.push("", "Here is a list of functions in JSON format that you can invoke.", "", JSON.stringify(defs, null, 4));
  return lines.join("\n");
}

export interface HistoryToolCall {
  function: { name: string; arguments: string };
}

/**
 * Earlier assistant tool calls as the model writes them: `[f(a=1, b="x"), g()]`. The arguments must
 * be a JSON object (OpenAI sends them as a JSON string); `param` names the message for errors.
 */
export function renderToolCalls(calls: readonly HistoryToolCall[], param: string): string {
  const parts = calls.map((c, j) => {
    const where = `${param}.tool_calls[${j}].function.arguments`;
    let args: unknown;
    try {
      args = c.function.arguments.trim() === "" ? {} : JSON.parse(c.function.arguments);
    } catch {
      throw new InvalidRequestError(`'${where}' is not valid JSON.`, { param: where, code: "invalid_parameter" });
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new InvalidRequestError(`'${where}' must be a JSON object.`, { param: where, code: "invalid_parameter" });
    }
    const kwargs = Object.entries(args as Record<string, unknown>).map(([k, v]) => `${k}=${pythonLiteral(v)}`);
    return `${c.function.name}(${kwargs.join(", ")})`;
  });
  return `[${parts.join(", ")}]`;
}
