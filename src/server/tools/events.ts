/**
 * What the tool-call parser hands out, and its options.
 * @module
 */
import { randomBytes } from "node:crypto";

export type ToolParseEvent =
  | { type: "content"; text: string }
  | { type: "call"; index: number; id: string; name: string }
  | { type: "args"; index: number; text: string };

export interface ParsedToolCall {
  id: string;
  name: string;
  /** JSON text of the arguments object. */
  arguments: string;
}

export interface ToolCallParserOptions {
  /** Known function names: calls of other names are text. Null accepts any identifier. */
  toolNames?: ReadonlySet<string> | null;
  /** At most this many calls (`parallel_tool_calls: false` → 1); later ones stay text. */
  maxCalls?: number;
  /** Accept JSON-style calls at the start of the output (default true). */
  jsonCalls?: boolean;
  /** Call ids (default `call_` + 24 random alphanumerics). */
  newId?: () => string;
}

const ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function newToolCallId(): string {
  let s = "call_";
  for (const b of randomBytes(24)) s += ALPHANUM[b % ALPHANUM.length];
  return s;
}
