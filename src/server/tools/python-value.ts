/**
 * One Python literal, a character at a time, written out as JSON text while it is read: strings
 * character by character, numbers and keywords when they end, containers as they open and close.
 *
 * Accepted: strings in single, double or triple quotes with Python's escapes (`r`/`u` prefixes;
 * `\N{…}`, bytes and f-strings are errors), ints (decimal, hex, octal, binary, `1_000`, signs),
 * floats, `True`/`False`/`None` and JSON's `true`/`false`/`null`, lists, dicts with string or
 * number keys, trailing commas, any nesting up to 128 levels. Tuples, sets, names and expressions
 * are errors. Nothing is emitted for a token until it is known to be valid, so an error leaves a
 * valid prefix of the JSON.
 * @module
 */
import { isIdentStart, isWordChar, isWs } from "./chars.js";

/** `more`: consumed, keep feeding; `done`: consumed and the value ended; `doneBefore`: the value
 * ended just before this character, which was not consumed; `error`: not a Python literal. */
export type FeedResult = "more" | "done" | "doneBefore" | "error";

const MAX_DEPTH = 128;
const WORDS: Record<string, string> = { True: "true", False: "false", None: "null", true: "true", false: "false", null: "null" };
const STRING_PREFIXES = new Set(["r", "R", "u", "U"]);
const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/** One character as it appears inside a JSON string. */
function jsonChar(c: string): string {
  return JSON.stringify(c).slice(1, -1);
}

/** A Python number token as JSON number text, or null when it is not one (or not finite). */
export function pythonNumberToJson(tok: string): string | null {
  let s = tok;
  let sign = "";
  if (s.startsWith("+") || s.startsWith("-")) {
    sign = s[0] === "-" ? "-" : "";
    s = s.slice(1);
  }
  const radix = /^0([xXoObB])/.exec(s);
  if (radix) {
    const digits = { x: "[0-9a-fA-F]", o: "[0-7]", b: "[01]" }[(radix[1] as string).toLowerCase() as "x" | "o" | "b"];
    if (!new RegExp(`^0[xXoObB](_?${digits})+$`).test(s)) return null;
    return sign + BigInt(s.replace(/_/g, "").toLowerCase()).toString();
  }
  if (!/^(\d(_?\d)*)?(\.(\d(_?\d)*)?)?([eE][+-]?\d(_?\d)*)?$/.test(s)) return null;
  s = s.replace(/_/g, "");
  const [mantissa = "", exponent] = s.split(/[eE]/);
  if (!/\d/.test(mantissa)) return null;
  if (/^\d+$/.test(s)) {
    if (/^0\d/.test(s) && !/^0+$/.test(s)) return null; // Python 3 has no leading-zero ints
    return sign + s.replace(/^0+(?=\d)/, "");
  }
  if (!Number.isFinite(Number(s))) return null;
  let m = mantissa;
  if (m.startsWith(".")) m = `0${m}`;
  if (m.endsWith(".")) m = `${m}0`;
  m = m.replace(/^0+(?=\d)/, "");
  const out = sign + m + (exponent === undefined ? "" : `e${exponent}`);
  return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(out) ? out : null;
}

interface Frame {
  kind: "list" | "dict";
  count: number;
  /** dict: the next string/number is a key. */
  key: boolean;
}

type State = "val" | "strOpen" | "strOpen2" | "str" | "num" | "word" | "colon" | "after";

export class PythonValueParser {
  readonly #emit: (json: string) => void;
  #st: State = "val";
  readonly #stack: Frame[] = [];
  #quote = "";
  #triple = false;
  #raw = false;
  #quoteRun = 0;
  #esc: { kind: "start" | "oct" | "hex"; digits: string; need: number } | null = null;
  #tok = "";

  constructor(emit: (json: string) => void) {
    this.#emit = emit;
  }

  feed(ch: string): FeedResult {
    switch (this.#st) {
      case "val":
        return this.#valueStart(ch);
      case "strOpen":
      case "strOpen2":
        return this.#stringOpen(ch);
      case "str":
        return this.#string(ch);
      case "num":
        if (isWordChar(ch) || ch === "." || ((ch === "+" || ch === "-") && /[eE]$/.test(this.#tok) && !/^[+-]?0[xX]/.test(this.#tok))) {
          this.#tok += ch;
          return "more";
        }
        return this.#tokenDone(ch, pythonNumberToJson(this.#tok));
      case "word":
        if (isWordChar(ch)) {
          this.#tok += ch;
          return "more";
        }
        if ((ch === '"' || ch === "'") && STRING_PREFIXES.has(this.#tok)) {
          this.#raw = this.#tok === "r" || this.#tok === "R";
          return this.#openString(ch);
        }
        return this.#tokenDone(ch, WORDS[this.#tok] ?? null);
      case "colon":
        if (isWs(ch)) return "more";
        if (ch !== ":") return "error";
        this.#emit(": ");
        this.#st = "val";
        return "more";
      case "after":
        return this.#after(ch);
    }
  }

  get #top(): Frame | undefined {
    return this.#stack[this.#stack.length - 1];
  }

  /** A scalar or container ended: the value is done, or its container moves on. */
  #ended(consumed: boolean): FeedResult {
    const top = this.#top;
    if (top === undefined) return consumed ? "done" : "doneBefore";
    if (top.kind === "dict" && top.key) {
      top.key = false;
      this.#st = "colon";
    } else this.#st = "after";
    return "more";
  }

  /** Separator before a list item or dict key. */
  #beginItem(): void {
    const top = this.#top;
    if (top && (top.kind === "list" || top.key)) {
      if (top.count > 0) this.#emit(", ");
      top.count++;
    }
  }

  #valueStart(ch: string): FeedResult {
    if (isWs(ch)) return "more";
    const top = this.#top;
    const isKey = top?.kind === "dict" && top.key;
    if (ch === '"' || ch === "'") {
      this.#raw = false;
      return this.#openString(ch);
    }
    if (/[0-9.+-]/.test(ch)) {
      this.#tok = ch;
      this.#st = "num";
      return "more";
    }
    if (isKey) return "error";
    if (ch === "[" || ch === "{") {
      if (this.#stack.length >= MAX_DEPTH) return "error";
      this.#beginItem();
      this.#emit(ch);
      this.#stack.push({ kind: ch === "[" ? "list" : "dict", count: 0, key: ch === "{" });
      this.#st = ch === "[" ? "val" : "after";
      return "more";
    }
    if (ch === "]" && top?.kind === "list") return this.#close(ch); // `[]`, or after a trailing comma
    if (isIdentStart(ch)) {
      this.#tok = ch;
      this.#st = "word";
      return "more";
    }
    return "error";
  }

  #close(ch: string): FeedResult {
    this.#emit(ch);
    this.#stack.pop();
    return this.#ended(true);
  }

  #after(ch: string): FeedResult {
    if (isWs(ch)) return "more";
    const top = this.#top as Frame;
    if (ch === ",") {
      if (top.kind === "list") this.#st = "val";
      else top.key = true;
      return "more";
    }
    if ((top.kind === "list" && ch === "]") || (top.kind === "dict" && ch === "}")) return this.#close(ch);
    if (top.kind === "dict" && top.key) return this.#valueStart(ch);
    return "error";
  }

  /** A number or keyword ended at `next` (not consumed): emit it, then let the container see `next`. */
  #tokenDone(next: string, json: string | null): FeedResult {
    if (json === null) return "error";
    this.#beginItem();
    const top = this.#top;
    this.#emit(top?.kind === "dict" && top.key ? JSON.stringify(json) : json);
    const r = this.#ended(false);
    return r === "more" ? this.feed(next) : r;
  }

  // ---- strings -----------------------------------------------------------------------------

  #openString(quote: string): FeedResult {
    this.#beginItem();
    this.#quote = quote;
    this.#triple = false;
    this.#esc = null;
    this.#st = "strOpen";
    return "more";
  }

  /** After one or two opening quotes: `""` may be empty or the start of `"""`. */
  #stringOpen(ch: string): FeedResult {
    if (this.#st === "strOpen") {
      if (ch === this.#quote) {
        this.#st = "strOpen2";
        return "more";
      }
      this.#emit('"');
      this.#st = "str";
      return this.#string(ch);
    }
    if (ch === this.#quote) {
      this.#emit('"');
      this.#triple = true;
      this.#quoteRun = 0;
      this.#st = "str";
      return "more";
    }
    this.#emit('""');
    const r = this.#ended(false);
    return r === "more" ? this.feed(ch) : r;
  }

  #string(ch: string): FeedResult {
    if (this.#esc !== null) return this.#escape(ch);
    if (this.#triple) {
      if (ch === this.#quote) {
        if (++this.#quoteRun < 3) return "more";
        this.#quoteRun = 0;
        this.#emit('"');
        return this.#ended(true);
      }
      if (this.#quoteRun > 0) {
        this.#emit(jsonChar(this.#quote).repeat(this.#quoteRun));
        this.#quoteRun = 0;
      }
    } else if (ch === this.#quote) {
      this.#emit('"');
      return this.#ended(true);
    }
    if (ch === "\\") this.#esc = { kind: "start", digits: "", need: 0 };
    else this.#emit(jsonChar(ch));
    return "more";
  }

  #escape(ch: string): FeedResult {
    const esc = this.#esc as { kind: "start" | "oct" | "hex"; digits: string; need: number };
    if (this.#raw) {
      // Raw strings keep the backslash; it only stops the next quote from ending the string.
      this.#esc = null;
      this.#emit(jsonChar("\\") + jsonChar(ch));
      return "more";
    }
    if (esc.kind === "oct") {
      if (/[0-7]/.test(ch) && esc.digits.length < 3) {
        esc.digits += ch;
        if (esc.digits.length < 3) return "more";
        this.#esc = null;
        this.#emit(jsonChar(String.fromCodePoint(Number.parseInt(esc.digits, 8))));
        return "more";
      }
      this.#esc = null;
      this.#emit(jsonChar(String.fromCodePoint(Number.parseInt(esc.digits, 8))));
      return this.#string(ch);
    }
    if (esc.kind === "hex") {
      if (!/[0-9a-fA-F]/.test(ch)) return "error";
      esc.digits += ch;
      if (esc.digits.length < esc.need) return "more";
      this.#esc = null;
      const cp = Number.parseInt(esc.digits, 16);
      if (cp > 0x10ffff) return "error";
      this.#emit(jsonChar(String.fromCodePoint(cp)));
      return "more";
    }
    return this.#escapeStart(ch);
  }

  #escapeStart(ch: string): FeedResult {
    this.#esc = null;
    if (ch === "\n") return "more"; // line continuation
    const simple = SIMPLE_ESCAPES[ch];
    if (simple !== undefined) {
      this.#emit(jsonChar(simple));
      return "more";
    }
    if (/[0-7]/.test(ch)) {
      this.#esc = { kind: "oct", digits: ch, need: 3 };
      return "more";
    }
    const need = { x: 2, u: 4, U: 8 }[ch as "x" | "u" | "U"];
    if (need !== undefined) {
      this.#esc = { kind: "hex", digits: "", need };
      return "more";
    }
    if (ch === "N") return "error"; // \N{NAME}: not supported
    this.#emit(jsonChar("\\") + jsonChar(ch)); // unknown escapes stay as written, as in Python
    return "more";
  }
}
