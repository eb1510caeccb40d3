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

/**
 * A union whose input matched exactly one branch's outer type (e.g. `content` is an array, so only
 * the array-of-parts branch applies) reports that branch's problem, deeper in the input; otherwise
 * the problem is reported at the union itself.
 */
function innermost(issue: Issue): { issue: Issue; prefix: PropertyKey[] } {
  if (issue.code === "invalid_union" && issue.input !== undefined) {
    const deep = issue.errors.filter((branch) => branch.length > 0 && branch.every((sub) => sub.path.length > 0));
    const only = deep.length === 1 ? deep[0]?.[0] : undefined;
    if (only) {
      const inner = innermost(only);
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
  const missing = "input" in issue && issue.input === undefined && (issue.code === "invalid_type" || issue.code === "invalid_union");
  const message = missing ? `Missing required parameter '${name}'.` : describeIssue(issue, name, got);
  return new InvalidRequestError(message, { param, code: missing ? "missing_required_parameter" : "invalid_parameter" });
}

function describeIssue(issue: Issue, name: string, got: string | undefined): string {
  let message: string;
  switch (issue.code) {
    case "invalid_type":
      message = `Invalid type for '${name}': expected ${issue.expected}, got ${got}.`;
      break;
    case "invalid_union": {
      const custom = issue.message !== "Invalid input" ? issue.message : null;
      message = `Invalid type for '${name}': expected ${custom ?? unionExpectation(issue) ?? "a different shape"}, got ${got}.`;
      break;
    }
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
  return message;
}

/** Parses `body` with `schema`, or throws the 400 for its first issue. */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body, { reportInput: true });
  if (r.success) return r.data;
  const first = r.error.issues[0];
  if (!first) throw new InvalidRequestError("Invalid request body.");
  throw issueToError(first);
}
