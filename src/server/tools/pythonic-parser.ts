/**
 * Llama 4 tool calls out of generated text, incrementally: text goes in as it is generated, and
 * out come content, call starts (id, name) and argument-JSON fragments. The non-streaming parse is
 * the same machine fed the whole text, so both paths agree by construction.
 *
 * Recognised (`../shared/reference/llama4.md` §3.3; vLLM's llama4_pythonic cases and the failures in
 * vLLM #16214, #22917, #30722, #46863): the native list `[f(a=1, b="x"), g(c=[1, {"k": None}])]`,
 * optionally in `<|python_start|>…<|python_end|>`, with literal keyword arguments (call-list.ts,
 * python-value.ts); text before a call list (#22917: the text is content, the calls are calls); a
 * bare `f(a=1)` at the start (known names only); JSON-style calls at the start (json-calls.ts:
 * alone, several separated by `,`/`;`, or in a JSON list; #16214, #46863); a list whose closing
 * `]` never came (#30722: complete calls are kept).
 *
 * Streaming: text that cannot start a call passes straight through. A possible start (`[` then a
 * prefix of a known function name, `<|python_start|>`, …) is held only until it is proven or
 * disproven; disproven text is released unchanged. Once `[name(` is seen the call is committed:
 * its id and name go out, then the argument JSON as it is parsed. Whitespace between text and a
 * call list is dropped. Nothing is invented: if the model breaks the syntax after a call was
 * committed, the arguments stay as far as they got and the raw text of that call onwards becomes
 * content (the non-streaming parse instead returns the whole text as content, with no calls).
 *
 * Modes: `text` (content flows; whitespace waits for the next character), `cand` (a possible call
 * start is held), `json` (JSON-style calls), `call` (inside a committed pythonic call list).
 * @module
 */
import { jsonDumps } from "../structured/literals.js";
import { CallListParser } from "./call-list.js";
import { newToolCallId, type ParsedToolCall, type ToolCallParserOptions, type ToolParseEvent } from "./events.js";
import { JsonObjectScanner, jsonCall } from "./json-calls.js";
import { isIdentStart, isNameChar, isWs, MAX_NAME } from "./chars.js";

export type { ParsedToolCall, ToolCallParserOptions, ToolParseEvent } from "./events.js";
export { pythonNumberToJson } from "./python-value.js";

const PY_START = "<|python_start|>";
const PY_END = "<|python_end|>";

/** After these, a `[` continues the text (indexing, nesting) rather than starting a call list. */
const NO_BOUNDARY_BEFORE = /[A-Za-z0-9_\])}"'`]/;

type Mode = "text" | "cand" | "json" | "call";
/** py: matching `<|python_start|>`/`<|python_end|>`; afterPy: after the start tag; open: after `[`; name: a function name. */
type CandState = "py" | "afterPy" | "open" | "name";

export class ToolCallParser {
  readonly #names: ReadonlySet<string> | null;
  readonly #maxCalls: number;
  readonly #jsonCalls: boolean;
  readonly #newId: () => string;

  readonly #out: ToolParseEvent[] = [];
  readonly #calls: ParsedToolCall[] = [];
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
  #jsonScan: JsonObjectScanner | null = null;
  #jsonDone = 0;

  // pythonic calls
  #list: CallListParser | null = null;

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
    for (;;) {
      if (this.#mode === "cand") this.#release();
      else if (this.#mode === "json" && this.#jsonScan === null && this.#jsonDone > 0) {
        // Only whitespace or separators after the last JSON call.
        this.#held = "";
        this.#endList();
      } else if (this.#mode === "json") this.#jsonFail();
      else break;
    }
    if (this.#mode === "call") {
      if (!this.#list?.complete) this.#incomplete = true;
      this.#endList();
    }
    if (this.#pendingWs !== "" && !this.#afterList) this.#emitText("");
    this.#pendingWs = "";
    return this.#take();
  }

  #take(): ToolParseEvent[] {
    return this.#out.splice(0);
  }

  // ---- emission ----------------------------------------------------------------------------

  /** Text (with any whitespace held before it) becomes content. */
  #emitText(s: string): void {
    const all = this.#pendingWs + s;
    this.#pendingWs = "";
    if (all === "") return;
    const last = this.#out[this.#out.length - 1];
    if (last?.type === "content") last.text += all;
    else this.#out.push({ type: "content", text: all });
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
    this.#calls.push({ id, name, arguments: "" });
    this.#out.push({ type: "call", index: this.#calls.length - 1, id, name });
    this.#args(args);
  }

  #nameOk(prefix: string): boolean {
    if (prefix.length > MAX_NAME) return false;
    if (this.#names === null) return true;
    for (const n of this.#names) if (n.startsWith(prefix)) return true;
    return false;
  }

  #known(name: string): boolean {
    return this.#names === null || this.#names.has(name);
  }

  #boundary(): boolean {
    return this.#atStart || this.#pendingWs !== "" || this.#lastChar === "" || !NO_BOUNDARY_BEFORE.test(this.#lastChar);
  }

  /** A bare call may open the output: `f(` of a known function, at the start. */
  #bareStart(ch: string): boolean {
    return this.#atStart && this.#names !== null && isIdentStart(ch) && this.#nameOk(ch);
  }

  // ---- text and candidates -----------------------------------------------------------------

  #feed(ch: string): void {
    switch (this.#mode) {
      case "text":
        this.#text(ch);
        return;
      case "cand":
        this.#held += ch;
        this.#candidate(ch);
        return;
      case "json":
        this.#json(ch);
        return;
      case "call":
        this.#list?.feed(ch);
        return;
    }
  }

  #text(ch: string): void {
    if (this.#disabled) this.#emitText(ch);
    else if (isWs(ch)) this.#pendingWs += ch;
    else if (ch === "<") this.#startCand("py", ch);
    else if (this.#calls.length >= this.#maxCalls) this.#emitText(ch);
    else if (ch === "[" && this.#boundary()) {
      this.#candBracket = true;
      this.#startCand("open", ch);
    } else if (ch === "{" && this.#atStart && this.#jsonCalls) {
      this.#held = "";
      this.#startJson(ch, false);
    } else if (this.#bareStart(ch)) {
      this.#candBracket = false;
      this.#candName = ch;
      this.#startCand("name", ch);
    } else this.#emitText(ch);
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
    this.#jsonScan = null;
    if (held === "") return;
    const first = String.fromCodePoint(held.codePointAt(0) as number);
    this.#emitText(first);
    for (const c of held.slice(first.length)) this.#feed(c);
  }

  #candidate(ch: string): void {
    switch (this.#cand) {
      case "py":
        if (this.#held === PY_START) this.#cand = "afterPy";
        else if (this.#held === PY_END && this.#afterList) {
          this.#held = ""; // the wrapper's end right after a call list: not content
          this.#mode = "text";
        } else if (!PY_START.startsWith(this.#held) && !PY_END.startsWith(this.#held)) this.#release();
        return;
      case "afterPy":
        if (isWs(ch)) return;
        if (this.#calls.length >= this.#maxCalls) this.#release();
        else if (ch === "[") {
          this.#candBracket = true;
          this.#cand = "open";
        } else if (ch === "{" && this.#atStart && this.#jsonCalls) this.#startJson(ch, false, this.#held.slice(0, -1));
        else if (this.#bareStart(ch)) {
          this.#candBracket = false;
          this.#candName = ch;
          this.#cand = "name";
        } else this.#release();
        return;
      case "open":
        if (isWs(ch)) return;
        if (isIdentStart(ch) && this.#nameOk(ch)) {
          this.#candName = ch;
          this.#cand = "name";
        } else if (ch === "{" && this.#atStart && this.#jsonCalls) this.#startJson(ch, true, this.#held.slice(0, -1));
        else this.#release();
        return;
      case "name":
        if (isNameChar(ch) && this.#nameOk(this.#candName + ch)) this.#candName += ch;
        else if (ch === "(" && this.#known(this.#candName)) this.#commit();
        else this.#release();
        return;
    }
  }

  /** `[name(` seen: the call list is real. */
  #commit(): void {
    this.#held = "";
    this.#pendingWs = "";
    this.#atStart = false;
    this.#mode = "call";
    this.#startCall(this.#candName);
    this.#list = new CallListParser(
      {
        startCall: (name) => this.#startCall(name),
        args: (json) => this.#args(json),
        known: (name) => this.#known(name),
        roomForCall: () => this.#calls.length < this.#maxCalls,
        endList: (rest) => {
          this.#endList();
          for (const c of rest) this.#feed(c);
        },
        fail: (raw) => this.#error(raw),
      },
      this.#candName,
      !this.#candBracket,
    );
  }

  // ---- JSON-style calls --------------------------------------------------------------------

  /** `prefix`: held text before the `{` (a `<|python_start|>`, a `[`), dropped if a call follows. */
  #startJson(ch: string, array: boolean, prefix = ""): void {
    this.#mode = "json";
    this.#jsonArray = array;
    this.#jsonDone = 0;
    this.#jsonScan = null;
    this.#held = prefix;
    this.#json(ch);
  }

  #jsonFail(): void {
    // Everything not yet committed (separators, the open object) is text again.
    this.#held += this.#jsonScan?.text ?? "";
    this.#jsonScan = null;
    if (this.#jsonDone > 0) this.#disabled = true;
    this.#release();
  }

  #json(ch: string): void {
    const scan = this.#jsonScan;
    if (scan !== null) {
      const r = scan.feed(ch);
      if (r === "fail") this.#jsonFail();
      else if (r === "done") this.#jsonObjectDone(scan.text);
      return;
    }
    // Between objects.
    const after = this.#jsonDone > 0;
    if (ch === "{") {
      if (this.#calls.length >= this.#maxCalls) {
        this.#held += ch;
        this.#jsonFail();
        return;
      }
      this.#jsonScan = new JsonObjectScanner(this.#names);
      this.#jsonScan.feed(ch);
    } else if (after && this.#jsonArray && ch === "]") {
      this.#held = "";
      this.#endList();
    } else if (isWs(ch) || (after && (ch === "," || ch === ";"))) this.#held += ch;
    else if (after && !this.#jsonArray) {
      // The run of JSON calls is over; what follows is text.
      const rest = this.#held;
      this.#held = "";
      this.#endList();
      for (const c of rest + ch) this.#feed(c);
    } else {
      this.#held += ch;
      this.#jsonFail();
    }
  }

  #jsonObjectDone(text: string): void {
    const call = jsonCall(text);
    if (call === null || !this.#known(call.name)) {
      this.#jsonFail();
      return;
    }
    this.#held = "";
    this.#jsonScan = null;
    this.#pendingWs = "";
    this.#atStart = false;
    this.#jsonDone++;
    this.#startCall(call.name, jsonDumps(call.args));
  }

  // ---- the end of a call list ---------------------------------------------------------------

  /** The model broke the syntax: `raw` (the current call's text onwards) is content, and so is the rest. */
  #error(raw: string): void {
    this.#errored = true;
    this.#disabled = true;
    this.#mode = "text";
    this.#list = null;
    this.#emitText(raw);
  }

  #endList(): void {
    this.#mode = "text";
    this.#afterList = true;
    this.#list = null;
  }
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
  return {
    content: content.trim() === "" ? null : content,
    toolCalls: p.calls.map(({ id, name, arguments: a }) => ({ id, name, arguments: a })),
  };
}
