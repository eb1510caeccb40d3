/**
 * Llama 4 tool calls out of generated text, incrementally: text goes in as it is generated, and
 * out come content, call starts (id, name) and argument-JSON fragments. The non-streaming parse is
 * the same machine fed the whole text, so both paths agree by construction.
 *
 * Recognised (`../shared/reference/llama4.md` §3.3; vLLM's llama4_pythonic cases and the failures in
 * vLLM #16214, #22917, #30722, #46863):
 * - the native call list `[f(a=1, b="x"), g(c=[1, {"k": None}])]`, optionally wrapped in
 *   `<|python_start|>…<|python_end|>` (present when special tokens are kept in the text);
 * - keyword arguments with Python literals: strings in single, double or triple quotes with
 *   Python's escapes (`r`/`u` prefixes too), ints (also hex/octal/binary and `1_000`), floats,
 *   `True`/`False`/`None` (JSON's `true`/`false`/`null` too), lists, dicts; nested to any depth;
 * - text before a call list (#22917): the text is content and the calls are still calls;
 * - a bare call at the start, `f(a=1)` (known function names only);
 * - JSON-style calls at the start, `{"name": "f", "parameters": {…}}` or `"arguments"`, alone,
 *   several separated by `,`/`;`, or in a JSON list (#16214, #46863);
 * - a call list whose closing `]` never came (#30722): complete calls are kept.
 *
 * Streaming: text that cannot start a call passes straight through. A possible start (`[` then a
 * prefix of a known function name, `<|python_start|>`, …) is held only until it is proven or
 * disproven; disproven text is released unchanged. Once `[name(` is seen the call is committed:
 * its id and name go out, then the argument JSON as it is parsed (strings character by character,
 * numbers and keywords when they end). Whitespace between text and a call list is dropped.
 * Nothing is ever invented: if the model breaks the syntax after a call was committed, the call's
 * arguments stay as far as they got and the raw text of that call onwards becomes content (the
 * non-streaming parse instead returns the whole text as content, with no calls).
 * @module
 */
import { randomBytes } from "node:crypto";
import { jsonDumps } from "../structured/literals.js";

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

const PY_START = "<|python_start|>";
const PY_END = "<|python_end|>";
const MAX_NAME = 128;
const MAX_DEPTH = 128;
const ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function newToolCallId(): string {
  const bytes = randomBytes(24);
  let s = "call_";
  for (const b of bytes) s += ALPHANUM[b % ALPHANUM.length];
  return s;
}

const isWs = (c: string) => c === " " || c === "\n" || c === "\t" || c === "\r";
const isIdentStart = (c: string) => /^[A-Za-z_]$/.test(c);
const isNameChar = (c: string) => /^[A-Za-z0-9_-]$/.test(c);
const isWordChar = (c: string) => /^[A-Za-z0-9_]$/.test(c);
/** After these, a `[` continues the text (indexing, nesting) rather than starting a call list. */
const NO_BOUNDARY_BEFORE = /[A-Za-z0-9_\])}"'`]/;

const WORDS: Record<string, string> = { True: "true", False: "false", None: "null", true: "true", false: "false", null: "null" };
const STRING_PREFIXES = new Set(["r", "R", "u", "U"]);
const JSON_CALL_KEYS = new Set(["name", "type", "parameters", "arguments", "function"]);
const SIMPLE_ESCAPES: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

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

/** One character as it appears inside a JSON string. */
function jsonChar(c: string): string {
  return JSON.stringify(c).slice(1, -1);
}

interface Frame {
  kind: "kwargs" | "list" | "dict";
  count: number;
  /** dict: whether the next string/number is a key. */
  key?: boolean;
}

type Mode = "text" | "cand" | "json" | "call";
type CandState = "py" | "afterPy" | "open" | "name";
type CallState =
  | "args"
  | "kw"
  | "eq"
  | "val"
  | "strOpen"
  | "strOpen2"
  | "str"
  | "num"
  | "word"
  | "colon"
  | "afterVal"
  | "afterCall"
  | "nextCall"
  | "callName";

export class ToolCallParser {
  readonly #names: ReadonlySet<string> | null;
  readonly #maxCalls: number;
  readonly #jsonCalls: boolean;
  readonly #newId: () => string;

  #out: ToolParseEvent[] = [];
  readonly #calls: Array<ParsedToolCall & { complete: boolean }> = [];
  #mode: Mode = "text";
  #pendingWs = "";
  #atStart = true;
  #lastChar = "";
  /** No content since the last call list ended (its trailing whitespace and `<|python_end|>` are dropped). */
  #afterList = false;
  /** After a syntax error: no more calls, everything is text. */
  #disabled = false;
  #errored = false;
  #incomplete = false;

  // candidate
  #held = "";
  #cand: CandState = "open";
  #candName = "";
  #candBracket = false;

  // JSON-style calls
  #jsonArray = false;
  #jsonObj = "";
  #jsonDepth = 0;
  #jsonInStr = false;
  #jsonEsc = false;
  #jsonExpectKey = false;
  #jsonStrStart = -1;
  #jsonKey = "";
  #jsonDone = 0;

  // pythonic calls
  #st: CallState = "args";
  #bracketless = false;
  #stack: Frame[] = [];
  #callRaw = "";
  #kw = "";
  #quote = "";
  #triple = false;
  #raw = false;
  #quoteRun = 0;
  #esc: { kind: "start" | "oct" | "hex"; digits: string; need: number } | null = null;
  #tok = "";

  constructor(opts: ToolCallParserOptions = {}) {
    this.#names = opts.toolNames ?? null;
    this.#maxCalls = opts.maxCalls ?? Number.POSITIVE_INFINITY;
    this.#jsonCalls = opts.jsonCalls ?? true;
    this.#newId = opts.newId ?? newToolCallId;
  }

  /** Calls started so far (complete or not). */
  get calls(): readonly ParsedToolCall[] {
    return this.#calls;
  }

  /** The model broke the call syntax, or the output ended inside a call. */
  get failed(): boolean {
    return this.#errored || this.#incomplete;
  }

  /** Feeds generated text; returns what can be emitted now. */
  push(text: string): ToolParseEvent[] {
    for (const ch of text) this.#feed(ch);
    return this.#take();
  }

  /** The output ended: releases anything held. */
  finish(): ToolParseEvent[] {
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (this.#mode === "cand") this.#release();
      else if (this.#mode === "json" && this.#jsonDepth === 0 && this.#jsonDone > 0) {
        // Only whitespace or separators after the last JSON call.
        this.#held = "";
        this.#mode = "text";
        this.#afterList = true;
      } else if (this.#mode === "json") this.#jsonFail();
      else break;
    }
    if (this.#mode === "call") {
      const tolerated = this.#st === "afterCall" || this.#st === "nextCall";
      if (!tolerated) this.#incomplete = true;
      this.#mode = "text";
      this.#afterList = true;
    }
    if (this.#pendingWs !== "" && !this.#afterList) this.#emitText("");
    this.#pendingWs = "";
    return this.#take();
  }

  #take(): ToolParseEvent[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // ---- emission ----------------------------------------------------------------------------

  #emitContent(s: string): void {
    if (s === "") return;
    const last = this.#out[this.#out.length - 1];
    if (last?.type === "content") last.text += s;
    else this.#out.push({ type: "content", text: s });
  }

  /** Text (with any whitespace held before it) becomes content. */
  #emitText(s: string): void {
    const all = this.#pendingWs + s;
    this.#pendingWs = "";
    if (all === "") return;
    this.#emitContent(all);
    this.#lastChar = all[all.length - 1] as string;
    this.#atStart = false;
    this.#afterList = false;
  }

  #args(s: string): void {
    const call = this.#calls[this.#calls.length - 1];
    if (!call || s === "") return;
    call.arguments += s;
    const index = this.#calls.length - 1;
    const last = this.#out[this.#out.length - 1];
    if (last?.type === "args" && last.index === index) last.text += s;
    else this.#out.push({ type: "args", index, text: s });
  }

  #startCall(name: string, args = ""): void {
    const id = this.#newId();
    const index = this.#calls.length;
    this.#calls.push({ id, name, arguments: "", complete: false });
    this.#out.push({ type: "call", index, id, name });
    this.#args(args);
  }

  #nameOk(prefix: string): boolean {
    if (prefix.length > MAX_NAME) return false;
    if (this.#names === null) return true;
    for (const n of this.#names) if (n.startsWith(prefix)) return true;
    return false;
  }

  #boundary(): boolean {
    return this.#atStart || this.#pendingWs !== "" || this.#lastChar === "" || !NO_BOUNDARY_BEFORE.test(this.#lastChar);
  }

  // ---- dispatch ----------------------------------------------------------------------------

  #feed(ch: string): void {
    switch (this.#mode) {
      case "text":
        this.#text(ch);
        return;
      case "cand":
        this.#candidate(ch);
        return;
      case "json":
        this.#json(ch);
        return;
      case "call":
        this.#callRaw += ch;
        this.#call(ch);
        return;
    }
  }

  #text(ch: string): void {
    if (this.#disabled) {
      this.#emitText(ch);
      return;
    }
    if (isWs(ch)) {
      this.#pendingWs += ch;
      return;
    }
    if (ch === "<") {
      this.#startCand("py", ch);
      return;
    }
    if (this.#calls.length >= this.#maxCalls) {
      this.#emitText(ch);
      return;
    }
    if (ch === "[" && this.#boundary()) {
      this.#candBracket = true;
      this.#startCand("open", ch);
      return;
    }
    if (ch === "{" && this.#atStart && this.#jsonCalls) {
      this.#held = "";
      this.#startJson(ch, false);
      return;
    }
    if (this.#atStart && this.#names !== null && isIdentStart(ch) && this.#nameOk(ch)) {
      this.#candBracket = false;
      this.#candName = ch;
      this.#startCand("name", ch);
      return;
    }
    this.#emitText(ch);
  }

  #startCand(state: CandState, ch: string): void {
    this.#mode = "cand";
    this.#cand = state;
    this.#held = ch;
  }

  /** The held text was not a call: its first character is text, the rest is read again. */
  #release(): void {
    const held = this.#held;
    this.#held = "";
    this.#mode = "text";
    this.#jsonObj = "";
    if (held === "") return;
    const first = String.fromCodePoint(held.codePointAt(0) as number);
    this.#emitText(first);
    for (const c of held.slice(first.length)) this.#feed(c);
  }

  #candidate(ch: string): void {
    this.#held += ch;
    switch (this.#cand) {
      case "py": {
        if (this.#held === PY_START) {
          this.#cand = "afterPy";
          return;
        }
        if (this.#held === PY_END && this.#afterList) {
          // The wrapper's end right after a call list: not content.
          this.#held = "";
          this.#mode = "text";
          return;
        }
        if (PY_START.startsWith(this.#held) || PY_END.startsWith(this.#held)) return;
        this.#release();
        return;
      }
      case "afterPy": {
        if (isWs(ch)) return;
        if (this.#calls.length >= this.#maxCalls) {
          this.#release();
          return;
        }
        if (ch === "[") {
          this.#candBracket = true;
          this.#cand = "open";
          return;
        }
        if (ch === "{" && this.#atStart && this.#jsonCalls) {
          this.#held = this.#held.slice(0, -1);
          const prefix = this.#held;
          this.#startJson(ch, false);
          this.#held = prefix;
          return;
        }
        if (this.#atStart && this.#names !== null && isIdentStart(ch) && this.#nameOk(ch)) {
          this.#candBracket = false;
          this.#candName = ch;
          this.#cand = "name";
          return;
        }
        this.#release();
        return;
      }
      case "open": {
        if (isWs(ch)) return;
        if (isIdentStart(ch) && this.#nameOk(ch)) {
          this.#candName = ch;
          this.#cand = "name";
          return;
        }
        if (ch === "{" && this.#atStart && this.#jsonCalls) {
          const prefix = this.#held.slice(0, -1);
          this.#startJson(ch, true);
          this.#held = prefix;
          return;
        }
        this.#release();
        return;
      }
      case "name": {
        if (isNameChar(ch) && this.#nameOk(this.#candName + ch)) {
          this.#candName += ch;
          return;
        }
        if (ch === "(" && (this.#names === null || this.#names.has(this.#candName))) {
          this.#held = "";
          this.#pendingWs = "";
          this.#atStart = false;
          this.#mode = "call";
          this.#bracketless = !this.#candBracket;
          this.#stack = [{ kind: "kwargs", count: 0 }];
          this.#callRaw = `${this.#candName}(`;
          this.#st = "args";
          this.#startCall(this.#candName);
          return;
        }
        this.#release();
        return;
      }
    }
  }

  // ---- JSON-style calls --------------------------------------------------------------------

  #startJson(ch: string, array: boolean): void {
    this.#mode = "json";
    this.#jsonArray = array;
    this.#jsonDone = 0;
    this.#jsonObj = "";
    this.#jsonDepth = 0;
    this.#json(ch);
  }

  #jsonFail(): void {
    // Everything not yet committed (separators, the open object) is text again.
    this.#held += this.#jsonObj;
    this.#jsonObj = "";
    if (this.#jsonDone > 0) this.#disabled = true;
    this.#release();
  }

  #json(ch: string): void {
    if (this.#jsonDepth === 0) {
      // Between objects.
      if (ch === "{") {
        if (this.#calls.length >= this.#maxCalls) {
          this.#held += ch;
          this.#jsonFail();
          return;
        }
        this.#jsonObj = ch;
        this.#jsonDepth = 1;
        this.#jsonInStr = false;
        this.#jsonEsc = false;
        this.#jsonExpectKey = true;
        this.#jsonKey = "";
        return;
      }
      if (this.#jsonDone > 0 && this.#jsonArray && ch === "]") {
        this.#held = "";
        this.#mode = "text";
        this.#afterList = true;
        return;
      }
      if (isWs(ch) || (this.#jsonDone > 0 && (ch === "," || ch === ";"))) {
        this.#held += ch;
        return;
      }
      if (this.#jsonDone > 0 && !this.#jsonArray) {
        // The run of JSON calls is over; what follows is text.
        const rest = this.#held;
        this.#held = "";
        this.#mode = "text";
        this.#afterList = true;
        for (const c of rest + ch) this.#feed(c);
        return;
      }
      this.#held += ch;
      this.#jsonFail();
      return;
    }
    this.#jsonObj += ch;
    if (this.#jsonInStr) {
      if (this.#jsonEsc) this.#jsonEsc = false;
      else if (ch === "\\") this.#jsonEsc = true;
      else if (ch === '"') {
        this.#jsonInStr = false;
        if (this.#jsonDepth === 1 && !this.#jsonTopString()) {
          this.#jsonFail();
          return;
        }
      }
      return;
    }
    if (ch === '"') {
      this.#jsonInStr = true;
      this.#jsonStrStart = this.#jsonObj.length - 1;
      return;
    }
    if (ch === "{" || ch === "[") {
      this.#jsonDepth++;
      return;
    }
    if (ch === "}" || ch === "]") {
      this.#jsonDepth--;
      if (this.#jsonDepth === 0) {
        this.#jsonObjectDone();
        return;
      }
      return;
    }
    if (this.#jsonDepth === 1) {
      if (ch === ":") this.#jsonExpectKey = false;
      else if (ch === ",") this.#jsonExpectKey = true;
    }
  }

  /** A string just closed at the top level of the object: early checks on keys and the name. */
  #jsonTopString(): boolean {
    let s: unknown;
    try {
      s = JSON.parse(this.#jsonObj.slice(this.#jsonStrStart));
    } catch {
      return false;
    }
    if (typeof s !== "string") return false;
    if (this.#jsonExpectKey) {
      this.#jsonKey = s;
      return JSON_CALL_KEYS.has(s);
    }
    if (this.#jsonKey === "name") return this.#names === null || this.#names.has(s);
    if (this.#jsonKey === "type") return s === "function";
    return true;
  }

  #jsonObjectDone(): void {
    let obj: unknown;
    try {
      obj = JSON.parse(this.#jsonObj);
    } catch {
      this.#jsonFail();
      return;
    }
    const call = jsonCall(obj);
    if (call === null || (this.#names !== null && !this.#names.has(call.name))) {
      this.#jsonFail();
      return;
    }
    this.#held = "";
    this.#jsonObj = "";
    this.#pendingWs = "";
    this.#atStart = false;
    this.#jsonDone++;
    this.#startCall(call.name, jsonDumps(call.args));
    (this.#calls[this.#calls.length - 1] as { complete: boolean }).complete = true;
  }

  // ---- pythonic calls ----------------------------------------------------------------------

  get #top(): Frame {
    return this.#stack[this.#stack.length - 1] as Frame;
  }

  #error(): void {
    this.#errored = true;
    this.#disabled = true;
    this.#mode = "text";
    this.#stack = [];
    this.#esc = null;
    const raw = this.#callRaw;
    this.#callRaw = "";
    this.#emitText(raw);
  }

  /** A value ended: a dict key waits for `:`, anything else for a separator or a closer. */
  #valueDone(): void {
    const top = this.#top;
    if (top.kind === "dict" && top.key) {
      top.key = false;
      this.#st = "colon";
    } else this.#st = "afterVal";
  }

  /** Separator before a list item or dict key. */
  #beginItem(): void {
    const top = this.#top;
    if (top.kind === "list" || (top.kind === "dict" && top.key)) {
      if (top.count > 0) this.#args(", ");
      top.count++;
    }
  }

  #endCall(): void {
    const call = this.#calls[this.#calls.length - 1];
    this.#args(call && call.arguments === "" ? "{}" : "}");
    if (call) call.complete = true;
    this.#st = "afterCall";
    this.#callRaw = "";
  }

  #endList(): void {
    this.#mode = "text";
    this.#afterList = true;
    this.#callRaw = "";
  }

  #call(ch: string): void {
    switch (this.#st) {
      case "args":
        if (isWs(ch)) return;
        if (ch === ")") {
          this.#endCall();
          return;
        }
        if (isIdentStart(ch)) {
          this.#kw = ch;
          this.#st = "kw";
          return;
        }
        this.#error();
        return;
      case "kw":
        if (isNameChar(ch) && this.#kw.length < MAX_NAME) {
          this.#kw += ch;
          return;
        }
        if (isWs(ch)) {
          this.#st = "eq";
          return;
        }
        if (ch === "=") {
          this.#keyDone();
          return;
        }
        this.#error();
        return;
      case "eq":
        if (isWs(ch)) return;
        if (ch === "=") {
          this.#keyDone();
          return;
        }
        this.#error();
        return;
      case "val":
        this.#valueStart(ch);
        return;
      case "colon":
        if (isWs(ch)) return;
        if (ch === ":") {
          this.#args(": ");
          this.#st = "val";
          return;
        }
        this.#error();
        return;
      case "strOpen":
        if (ch === this.#quote) {
          this.#st = "strOpen2";
          return;
        }
        this.#args('"');
        this.#st = "str";
        this.#string(ch);
        return;
      case "strOpen2":
        if (ch === this.#quote) {
          this.#args('"');
          this.#triple = true;
          this.#quoteRun = 0;
          this.#st = "str";
          return;
        }
        this.#args('""');
        this.#valueDone();
        this.#call(ch);
        return;
      case "str":
        this.#string(ch);
        return;
      case "num":
        if (isWordChar(ch) || ch === "." || ((ch === "+" || ch === "-") && /[eE]$/.test(this.#tok) && !/^[+-]?0[xX]/.test(this.#tok))) {
          this.#tok += ch;
          return;
        }
        this.#numberDone(ch);
        return;
      case "word":
        if (isWordChar(ch)) {
          this.#tok += ch;
          return;
        }
        if ((ch === '"' || ch === "'") && STRING_PREFIXES.has(this.#tok) && !this.#top.key) {
          this.#raw = this.#tok === "r" || this.#tok === "R";
          this.#openString(ch);
          return;
        }
        this.#wordDone(ch);
        return;
      case "afterVal":
        this.#afterValue(ch);
        return;
      case "afterCall":
        if (isWs(ch)) {
          if (this.#bracketless) this.#pendingWs += ch;
          return;
        }
        if (ch === "," || (this.#bracketless && ch === ";")) {
          if (this.#calls.length >= this.#maxCalls) {
            this.#endList();
            this.#text(ch);
            return;
          }
          this.#pendingWs = "";
          this.#st = "nextCall";
          return;
        }
        if (ch === "]" && !this.#bracketless) {
          this.#endList();
          return;
        }
        if (this.#bracketless) {
          this.#endList();
          this.#text(ch);
          return;
        }
        this.#error();
        return;
      case "nextCall":
        if (isWs(ch)) return;
        if (ch === "]" && !this.#bracketless) {
          this.#endList();
          return;
        }
        if (isIdentStart(ch)) {
          this.#callRaw = ch;
          this.#candName = ch;
          this.#st = "callName";
          return;
        }
        this.#error();
        return;
      case "callName":
        if (isNameChar(ch) && this.#candName.length < MAX_NAME) {
          this.#candName += ch;
          return;
        }
        if (ch === "(" && (this.#names === null || this.#names.has(this.#candName))) {
          this.#stack = [{ kind: "kwargs", count: 0 }];
          this.#st = "args";
          this.#startCall(this.#candName);
          return;
        }
        this.#error();
        return;
    }
  }

  #keyDone(): void {
    const top = this.#top;
    this.#args(`${top.count === 0 ? "{" : ", "}${JSON.stringify(this.#kw)}: `);
    top.count++;
    this.#st = "val";
  }

  #valueStart(ch: string): void {
    if (isWs(ch)) return;
    const top = this.#top;
    const isKey = top.kind === "dict" && top.key === true;
    if (ch === '"' || ch === "'") {
      this.#raw = false;
      this.#openString(ch);
      return;
    }
    if (/[0-9.+-]/.test(ch)) {
      this.#tok = ch;
      this.#st = "num";
      return;
    }
    if (isKey) {
      this.#error();
      return;
    }
    if (ch === "[" || ch === "{") {
      if (this.#stack.length >= MAX_DEPTH) {
        this.#error();
        return;
      }
      this.#beginItem();
      this.#args(ch);
      this.#stack.push(ch === "[" ? { kind: "list", count: 0 } : { kind: "dict", count: 0, key: true });
      this.#st = ch === "[" ? "val" : "afterVal";
      return;
    }
    if (ch === "]" && top.kind === "list") {
      // `[]`, or after a trailing comma
      this.#closeContainer(ch);
      return;
    }
    if (isIdentStart(ch)) {
      this.#tok = ch;
      this.#st = "word";
      return;
    }
    this.#error();
    return;
  }

  #openString(quote: string): void {
    this.#beginItem();
    this.#quote = quote;
    this.#triple = false;
    this.#esc = null;
    this.#st = "strOpen";
  }

  #stringEnd(): void {
    this.#args('"');
    this.#valueDone();
  }

  #string(ch: string): void {
    if (this.#esc !== null) {
      this.#escape(ch);
      return;
    }
    if (this.#triple) {
      if (ch === this.#quote) {
        if (++this.#quoteRun === 3) {
          this.#quoteRun = 0;
          this.#stringEnd();
        }
        return;
      }
      if (this.#quoteRun > 0) {
        this.#args(jsonChar(this.#quote).repeat(this.#quoteRun));
        this.#quoteRun = 0;
      }
    } else if (ch === this.#quote) {
      this.#stringEnd();
      return;
    }
    if (ch === "\\") {
      this.#esc = { kind: "start", digits: "", need: 0 };
      return;
    }
    this.#args(jsonChar(ch));
  }

  #escape(ch: string): void {
    const esc = this.#esc as { kind: "start" | "oct" | "hex"; digits: string; need: number };
    if (this.#raw) {
      // Raw strings keep the backslash; it only stops the next quote from ending the string.
      this.#esc = null;
      this.#args(jsonChar("\\") + jsonChar(ch));
      return;
    }
    if (esc.kind === "start") {
      if (ch === "\n") {
        this.#esc = null; // line continuation
        return;
      }
      const simple = SIMPLE_ESCAPES[ch];
      if (simple !== undefined) {
        this.#esc = null;
        this.#args(jsonChar(simple));
        return;
      }
      if (/[0-7]/.test(ch)) {
        this.#esc = { kind: "oct", digits: ch, need: 3 };
        return;
      }
      const need = { x: 2, u: 4, U: 8 }[ch as "x" | "u" | "U"];
      if (need !== undefined) {
        this.#esc = { kind: "hex", digits: "", need };
        return;
      }
      if (ch === "N") {
        this.#error(); // \N{NAME}: not supported
        return;
      }
      this.#esc = null;
      this.#args(jsonChar("\\") + jsonChar(ch)); // unknown escapes stay as written, as in Python
      return;
    }
    if (esc.kind === "oct") {
      if (/[0-7]/.test(ch) && esc.digits.length < 3) {
        esc.digits += ch;
        if (esc.digits.length === 3) {
          this.#esc = null;
          this.#args(jsonChar(String.fromCodePoint(Number.parseInt(esc.digits, 8))));
        }
        return;
      }
      this.#esc = null;
      this.#args(jsonChar(String.fromCodePoint(Number.parseInt(esc.digits, 8))));
      this.#string(ch);
      return;
    }
    if (!/[0-9a-fA-F]/.test(ch)) {
      this.#error();
      return;
    }
    esc.digits += ch;
    if (esc.digits.length < esc.need) return;
    this.#esc = null;
    const cp = Number.parseInt(esc.digits, 16);
    if (cp > 0x10ffff) {
      this.#error();
      return;
    }
    this.#args(jsonChar(String.fromCodePoint(cp)));
  }

  #numberDone(next: string): void {
    const json = pythonNumberToJson(this.#tok);
    if (json === null) {
      this.#error();
      return;
    }
    this.#beginItem();
    const top = this.#top;
    this.#args(top.kind === "dict" && top.key ? JSON.stringify(json) : json);
    this.#valueDone();
    this.#call(next);
  }

  #wordDone(next: string): void {
    const json = WORDS[this.#tok];
    if (json === undefined) {
      this.#error();
      return;
    }
    this.#beginItem();
    this.#args(json);
    this.#valueDone();
    this.#call(next);
  }

  #closeContainer(ch: string): void {
    this.#args(ch);
    this.#stack.pop();
    this.#valueDone();
  }

  #afterValue(ch: string): void {
    if (isWs(ch)) return;
    const top = this.#top;
    if (ch === ",") {
      if (top.kind === "kwargs") this.#st = "args";
      else if (top.kind === "list") this.#st = "val";
      else {
        top.key = true;
        this.#st = "afterVal";
      }
      return;
    }
    if (top.kind === "kwargs" && ch === ")") {
      this.#endCall();
      return;
    }
    if (top.kind === "list" && ch === "]") {
      this.#closeContainer(ch);
      return;
    }
    if (top.kind === "dict" && ch === "}") {
      // `{` then `}`, or after a value / trailing comma.
      this.#closeContainer(ch);
      return;
    }
    if (top.kind === "dict" && top.key) {
      this.#valueStart(ch);
      return;
    }
    this.#error();
    return;
  }
}

/** `{"name", "parameters"|"arguments"}`, optionally `"type": "function"`, or `{"function": {...}}`. */
function jsonCall(obj: unknown): { name: string; args: Record<string, unknown> } | null {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return null;
  const o = obj as Record<string, unknown>;
  if (Object.keys(o).some((k) => !JSON_CALL_KEYS.has(k))) return null;
  if (o["type"] !== undefined && o["type"] !== "function") return null;
  const f = typeof o["function"] === "object" && o["function"] !== null ? (o["function"] as Record<string, unknown>) : o;
  const name = f["name"];
  let args = f["parameters"] ?? f["arguments"] ?? {};
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      return null;
    }
  }
  if (typeof name !== "string" || typeof args !== "object" || args === null || Array.isArray(args)) return null;
  return { name, args: args as Record<string, unknown> };
}

export interface ParsedOutput {
  /** Text that is not a call (null when the output is only calls). */
  content: string | null;
  toolCalls: ParsedToolCall[];
}

/**
 * The whole output at once (non-streaming). A call list the model broke, or one cut off before its
 * calls were complete, is returned as content with no calls: nothing half-parsed is handed out.
 */
export function parseToolCalls(text: string, opts: ToolCallParserOptions = {}): ParsedOutput {
  const p = new ToolCallParser(opts);
  const events = [...p.push(text), ...p.finish()];
  if (p.failed || p.calls.length === 0) return { content: text, toolCalls: [] };
  const content = events.map((e) => (e.type === "content" ? e.text : "")).join("");
  return { content: content.trim() === "" ? null : content, toolCalls: p.calls.map(({ id, name, arguments: a }) => ({ id, name, arguments: a })) };
}
