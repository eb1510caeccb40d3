/**
 * The grammar pieces of one dialect: whitespace, strings, numbers, keywords, formats, any value.
 * JSON writes `true`/`false`/`null` and allows a space or a newline with up to 20 indent characters
 * between tokens; Python writes `True`/`False`/`None` and one optional space. Strings are
 * double-quoted with JSON-style escapes in both (a JSON string literal is a Python string literal
 * with the same value; only `\/` is left out of Python's).
 * @module
 */
import { alt, cls, type GrammarBuilder, list, lit, type Node, opt, rep, seq } from "./gbnf.js";
import type { Dialect } from "./keywords.js";
import { jsonDumps, pythonLiteral } from "./literals.js";

const DIGIT = cls("[0-9]");
const HEX = cls("[0-9a-fA-F]");

export class Primitives {
  readonly #b: GrammarBuilder;
  readonly #d: Dialect;
  #any: Node | null = null;

  constructor(builder: GrammarBuilder, dialect: Dialect) {
    this.#b = builder;
    this.#d = dialect;
  }

  /** Whitespace between tokens. */
  get sp(): Node {
    if (this.#d === "python") return this.#b.rule("sp", opt(lit(" ")));
    return this.#b.rule("ws", opt(alt(lit(" "), seq(lit("\n"), rep(cls("[ \\t]"), 0, 20)))));
  }

  /** `,` and whitespace. */
  get sep(): Node {
    return seq(lit(","), this.sp);
  }

  #char(): Node {
    const escapes = this.#d === "json" ? cls('["\\\\/bfnrt]') : cls('["\\\\bfnrt]');
    const plain = cls('[^"\\\\\\x7F\\x00-\\x1F]');
    return this.#b.rule(this.#d === "json" ? "char" : "py-char", alt(plain, seq(lit("\\"), alt(escapes, seq(lit("u"), rep(HEX, 4, 4))))));
  }

  string(minLength = 0, maxLength: number | null = null): Node {
    const body = seq(lit('"'), rep(this.#char(), minLength, maxLength), lit('"'));
    return minLength === 0 && maxLength === null ? this.#b.rule("string", body) : body;
  }

  integer(): Node {
    return this.#b.rule("integer", seq(opt(lit("-")), alt(lit("0"), seq(cls("[1-9]"), rep(DIGIT, 0, 15)))));
  }

  number(nonNegative = false): Node {
    const intPart = alt(lit("0"), seq(cls("[1-9]"), rep(DIGIT, 0, 15)));
    const frac = opt(seq(lit("."), rep(DIGIT, 1, 16)));
    const exp = opt(seq(cls("[eE]"), opt(cls("[-+]")), rep(DIGIT, 1, 2)));
    if (nonNegative) return this.#b.rule("nonneg-number", seq(intPart, frac, exp));
    return this.#b.rule("number", seq(opt(lit("-")), intPart, frac, exp));
  }

  boolean(): Node {
    return this.#b.rule("boolean", this.#d === "json" ? alt(lit("true"), lit("false")) : alt(lit("True"), lit("False")));
  }

  null(): Node {
    return lit(this.#d === "json" ? "null" : "None");
  }

  literal(v: unknown): Node {
    return lit(this.#d === "json" ? jsonDumps(v) : pythonLiteral(v));
  }

  /** Any value of the dialect (recursive). */
  any(): Node {
    if (this.#any) return this.#any;
    const name = this.#b.reserve(this.#d === "json" ? "value" : "py-value");
    const ref: Node = { k: "ref", name };
    this.#any = ref;
    const sp = this.sp;
    const obj = seq(lit("{"), sp, list(seq(this.string(), lit(":"), sp, ref), this.sep, 0, null), sp, lit("}"));
    const arr = seq(lit("["), sp, list(ref, this.sep, 0, null), sp, lit("]"));
    this.#b.define(
      name,
      alt(this.#b.rule("object", obj), this.#b.rule("array", arr), this.string(), this.number(), this.boolean(), this.null()),
    );
    return ref;
  }

  /** Any object (`response_format: json_object`). */
  anyObject(): Node {
    this.any();
    return this.#b.rule(
      "object",
      seq(lit("{"), this.sp, list(seq(this.string(), lit(":"), this.sp, this.any()), this.sep, 0, null), this.sp, lit("}")),
    );
  }

  /** A `format` string, quotes included: date, time, date-time or uuid. */
  formatString(f: string): Node {
    const d2 = (a: string, b: string) => seq(cls(a), cls(b));
    const date = this.#b.rule(
      "date",
      seq(
        rep(DIGIT, 4, 4),
        lit("-"),
        alt(seq(lit("0"), cls("[1-9]")), seq(lit("1"), cls("[0-2]"))),
        lit("-"),
        alt(seq(lit("0"), cls("[1-9]")), d2("[12]", "[0-9]"), seq(lit("3"), cls("[01]"))),
      ),
    );
    const hh = alt(d2("[01]", "[0-9]"), seq(lit("2"), cls("[0-3]")));
    const mm = d2("[0-5]", "[0-9]");
    const time = this.#b.rule(
      "time",
      seq(hh, lit(":"), mm, lit(":"), mm, opt(seq(lit("."), rep(DIGIT, 1, 6))), alt(cls("[zZ]"), seq(cls("[-+]"), hh, lit(":"), mm))),
    );
    const h = (n: number) => rep(HEX, n, n);
    const body =
      f === "date"
        ? date
        : f === "time"
          ? time
          : f === "date-time"
            ? seq(date, cls("[tT]"), time)
            : seq(h(8), lit("-"), h(4), lit("-"), h(4), lit("-"), h(4), lit("-"), h(12));
    return this.#b.rule(`${f}-string`, seq(lit('"'), body, lit('"')));
  }
}
