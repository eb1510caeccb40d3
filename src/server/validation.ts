/**
 * zod → OpenAI errors: the first problem becomes a 400 whose `param` is the parameter's path in
 * OpenAI's notation (`messages[0].content`). Unknown fields are stripped silently, as OpenAI does.
 * Messages name types, never values (a value may be a prompt).
 * @module
 */
import type { z } from "zod";
import { InvalidRequestError } from "../common/errors.js";

type Issue = z.core.$ZodIssue;

/** `["messages", 0, "content"]` → `messages[0].content`. */
export function formatParamPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** For a union, the distinct types its branches expected ("string or array"). */
function unionExpectation(issue: Issue & { code: "invalid_union" }): string | null {
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const sub of branch) {
      if (sub.path.length === 0 && sub.code === "invalid_type") expected.add(String(sub.expected));
      else return null;
    }
  }
  return expected.size > 0 ? [...expected].join(" or ") : null;
}

/** The deepest issue of a union whose branches failed below the top level (e.g. a bad content part). */
function innermost(issue: Issue): { issue: Issue; prefix: PropertyKey[] } {
  if (issue.code === "invalid_union" && unionExpectation(issue) === null) {
    // Prefer the branch that got furthest (longest path): it is the one the caller meant.
    let best: Issue | undefined;
    for (const branch of issue.errors) for (const sub of branch) if (!best || sub.path.length > best.path.length) best = sub;
    if (best) {
      const inner = innermost(best);
      return { issue: inner.issue, prefix: [...issue.path, ...inner.prefix] };
    }
  }
  return { issue, prefix: [] };
}

export function issueToError(top: Issue): InvalidRequestError {
  const { issue, prefix } = innermost(top);
  const param = formatParamPath([...prefix, ...issue.path]) || null;
  const name = param ?? "request body";
  const got = "input" in issue ? typeName(issue.input) : undefined;
  let message: string;
  switch (issue.code) {
    case "invalid_type":
      message =
        issue.input === undefined ? `Missing required parameter '${name}'.` : `Invalid type for '${name}': expected ${issue.expected}, got ${got}.`;
      break;
    case "invalid_union":
      message = `Invalid type for '${name}': expected ${unionExpectation(issue) ?? "a different shape"}, got ${got}.`;
      break;
    case "invalid_value":
      message = `Invalid value for '${name}': expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}.`;
      break;
    case "too_small":
      message =
        issue.origin === "array" || issue.origin === "string"
          ? `'${name}' must have at least ${String(issue.minimum)} ${issue.origin === "array" ? "item(s)" : "character(s)"}.`
          : `'${name}' must be ${issue.inclusive ? "≥" : ">"} ${String(issue.minimum)}.`;
      break;
    case "too_big":
      message =
        issue.origin === "array" || issue.origin === "string"
          ? `'${name}' must have at most ${String(issue.maximum)} ${issue.origin === "array" ? "item(s)" : "character(s)"}.`
          : `'${name}' must be ${issue.inclusive ? "≤" : "<"} ${String(issue.maximum)}.`;
      break;
    case "invalid_format":
      message = `Invalid format for '${name}': expected ${issue.format}.`;
      break;
    case "unrecognized_keys":
      message = `Unrecognized keys in '${name}': ${issue.keys.join(", ")}.`;
      break;
    default:
      message = `Invalid value for '${name}': ${issue.message}.`;
  }
  return new InvalidRequestError(message, { param, code: issue.code === "invalid_type" && issue.input === undefined ? "missing_required_parameter" : "invalid_parameter" });
}

/** Parses `body` with `schema`, or throws the 400 for its first issue. */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body, { reportInput: true });
  if (r.success) return r.data;
  const first = r.error.issues[0];
  if (!first) throw new InvalidRequestError("Invalid request body.");
  throw issueToError(first);
}
