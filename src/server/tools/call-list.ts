/**
 * Inside a committed pythonic call list, after `[name(` (or a bare `name(` at the start): keyword
 * arguments with literal values (python-value.ts), `)`, then `, next(` … `]`. The argument JSON goes
 * out through the host as it is parsed: `{"key": ` at each `=`, the value's JSON, `}` at `)`.
 *
 * States: args (a keyword or `)`), kw (a keyword's name), eq (`=` after spaces), val (a value),
 * afterVal (`,` or `)`), afterCall (`,` or `]`), nextCall (a name or a trailing `]`), callName.
 * @module
 */
import { PythonValueParser } from "./python-value.js";
import { isIdentStart, isNameChar, isWs, MAX_NAME } from "./chars.js";

export interface CallListHost {
  startCall(name: string): void;
  args(json: string): void;
  known(name: string): boolean;
  /** Whether another call is allowed (`parallel_tool_calls`). */
  roomForCall(): boolean;
  /** The list is over; `rest` is text to read as ordinary output. */
  endList(rest: string): void;
  /** The syntax broke: `raw` (the current call's text onwards) becomes content. */
  fail(raw: string): void;
}

type State = "args" | "kw" | "eq" | "val" | "afterVal" | "afterCall" | "nextCall" | "callName";

export class CallListParser {
  readonly #host: CallListHost;
  readonly #bracketless: boolean;
  #st: State = "args";
  /** The current call's raw text (what becomes content if it breaks). */
  #raw: string;
  #kw = "";
  #kwCount = 0;
  #name = "";
  /** Whitespace after a bare call, kept in case text follows. */
  #ws = "";
  #value: PythonValueParser | null = null;

  /** The first call's name and `(` have been read; the host has started it. */
  constructor(host: CallListHost, firstName: string, bracketless: boolean) {
    this.#host = host;
    this.#bracketless = bracketless;
    this.#raw = `${firstName}(`;
  }

  /** Every call so far is complete (a missing `]` at the end is tolerated). */
  get complete(): boolean {
    return this.#st === "afterCall" || this.#st === "nextCall";
  }

  feed(ch: string): void {
    this.#raw += ch;
    const st = this.#st;
    if (st === "args" || st === "afterVal") this.#argsState(ch);
    else if (st === "kw" || st === "eq") this.#kwState(ch);
    else if (st === "val") this.#valueState(ch);
    else if (st === "afterCall") this.#afterCall(ch);
    else this.#nextCall(ch);
  }

  #fail(): void {
    this.#value = null;
    this.#host.fail(this.#raw);
  }

  /** `args`: a keyword or `)`; `afterVal`: `,` or `)`. */
  #argsState(ch: string): void {
    if (isWs(ch)) return;
    if (ch === ")") {
      this.#host.args(this.#kwCount === 0 ? "{}" : "}");
      this.#st = "afterCall";
      this.#raw = "";
    } else if (this.#st === "afterVal" && ch === ",") this.#st = "args";
    else if (this.#st === "args" && isIdentStart(ch)) {
      this.#kw = ch;
      this.#st = "kw";
    } else this.#fail();
  }

  /** A keyword's name, then `=`; the argument's value follows. */
  #kwState(ch: string): void {
    if (this.#st === "kw" && isNameChar(ch) && this.#kw.length < MAX_NAME) this.#kw += ch;
    else if (isWs(ch)) this.#st = "eq";
    else if (ch === "=") {
      this.#host.args(`${this.#kwCount === 0 ? "{" : ", "}${JSON.stringify(this.#kw)}: `);
      this.#kwCount++;
      this.#st = "val";
      this.#value = new PythonValueParser((s) => this.#host.args(s));
    } else this.#fail();
  }

  #valueState(ch: string): void {
    const r = (this.#value as PythonValueParser).feed(ch);
    if (r === "error") this.#fail();
    else if (r === "done") this.#st = "afterVal";
    else if (r === "doneBefore") {
      this.#st = "afterVal";
      this.#argsState(ch);
    }
  }

  #afterCall(ch: string): void {
    if (isWs(ch)) {
      if (this.#bracketless) this.#ws += ch;
    } else if (ch === "," || (this.#bracketless && ch === ";")) {
      if (!this.#host.roomForCall()) this.#host.endList(this.#ws + ch);
      else {
        this.#ws = "";
        this.#st = "nextCall";
      }
    } else if (ch === "]" && !this.#bracketless) this.#host.endList("");
    else if (this.#bracketless) this.#host.endList(this.#ws + ch);
    else this.#fail();
  }

  /** After a `,` between calls: the next call's name and `(`, or a trailing `]`. */
  #nextCall(ch: string): void {
    if (this.#st === "callName") {
      if (isNameChar(ch) && this.#name.length < MAX_NAME) this.#name += ch;
      else if (ch === "(" && this.#host.known(this.#name)) {
        this.#st = "args";
        this.#kwCount = 0;
        this.#host.startCall(this.#name);
      } else this.#fail();
    } else if (isWs(ch)) return;
    else if (ch === "]" && !this.#bracketless) this.#host.endList("");
    else if (isIdentStart(ch)) {
      this.#raw = ch;
      this.#name = ch;
      this.#st = "callName";
    } else this.#fail();
  }
}
