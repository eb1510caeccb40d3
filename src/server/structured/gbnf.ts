/**
 * A small grammar AST that renders to llama.cpp's GBNF (what the engine's grammar sampler takes,
 * start symbol `root`) and, for tests, to an equivalent JavaScript RegExp (non-recursive grammars
 * only), so that the schema converters can be checked against real values without a model.
 *
 * Rules are deduplicated by their rendered body, so shared pieces (strings, numbers, whitespace)
 * appear once however often a schema uses them.
 * @module
 */

import { escapeRegExp } from "../../common/regexp.js";

export type Node =
  | { readonly k: "lit"; readonly s: string }
  | { readonly k: "cls"; readonly gbnf: string; readonly re: string }
  | { readonly k: "seq"; readonly items: readonly Node[] }
  | { readonly k: "alt"; readonly items: readonly Node[] }
  | { readonly k: "rep"; readonly item: Node; readonly min: number; readonly max: number | null }
  | { readonly k: "ref"; readonly name: string };

/** Matches the empty string. */
export const EMPTY: Node = { k: "seq", items: [] };

export const isEmpty = (n: Node): boolean => n.k === "seq" && n.items.length === 0;

export function lit(s: string): Node {
  return s === "" ? EMPTY : { k: "lit", s };
}

/** A character class: its GBNF text and the same class as a JS regex (`u` flag). */
export function cls(gbnf: string, re: string = gbnf): Node {
  return { k: "cls", gbnf, re };
}

export function seq(...items: Node[]): Node {
  const flat: Node[] = [];
  for (const it of items) {
    if (it.k === "seq") flat.push(...it.items);
    else flat.push(it);
  }
  // Adjacent literals merge ("[" "a" → "[a").
  const merged: Node[] = [];
  for (const it of flat) {
    const prev = merged[merged.length - 1];
    if (it.k === "lit" && prev?.k === "lit") merged[merged.length - 1] = { k: "lit", s: prev.s + it.s };
    else merged.push(it);
  }
  return merged.length === 1 ? (merged[0] as Node) : { k: "seq", items: merged };
}

/** Alternatives; an empty alternative makes the whole thing optional. */
export function alt(...items: Node[]): Node {
  const flat: Node[] = [];
  let hasEmpty = false;
  for (const it of items) {
    if (isEmpty(it)) hasEmpty = true;
    else if (it.k === "alt") flat.push(...it.items);
    else flat.push(it);
  }
  const ids = structuralIds();
  const seen = new Set<number>();
  const unique = flat.filter((n) => {
    const id = ids(n);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  let out: Node;
  if (unique.length === 0) return EMPTY;
  if (unique.length === 1) out = unique[0] as Node;
  else out = { k: "alt", items: unique };
  return hasEmpty ? opt(out) : out;
}

/**
 * Equal structures get equal ids, in time linear in the number of distinct node objects: nodes share
 * subtrees (`list` uses its item twice), so comparing their JSON text grew exponentially with nesting.
 * One id space serves every call (nested alternatives are flattened into their parents, so each level
 * would otherwise number the same nodes again); it starts afresh past a million structures.
 */
let idSpace: ((n: Node) => number) & { size: () => number } = newIdSpace();
function structuralIds(): (n: Node) => number {
  if (idSpace.size() > 1_000_000) idSpace = newIdSpace();
  return idSpace;
}

function newIdSpace(): ((n: Node) => number) & { size: () => number } {
  const byNode = new WeakMap<Node, number>();
  const byKey = new Map<string, number>();
  const id = (n: Node): number => {
    const hit = byNode.get(n);
    if (hit !== undefined) return hit;
    let key: string;
    switch (n.k) {
      case "lit":
        key = `l${JSON.stringify(n.s)}`;
        break;
      case "cls":
        key = `c${JSON.stringify(n.gbnf)}`;
        break;
      case "ref":
        key = `r${n.name}`;
        break;
      case "rep":
        key = `p${n.min},${n.max},${id(n.item)}`;
        break;
      default:
        key = `${n.k}${n.items.map(id).join(",")}`;
    }
    let v = byKey.get(key);
    if (v === undefined) {
      v = byKey.size;
      byKey.set(key, v);
    }
    byNode.set(n, v);
    return v;
  };
  return Object.assign(id, { size: () => byKey.size });
}

/** A grammar past this many characters is refused (the engine parses it for every request). */
export const MAX_GRAMMAR_CHARS = 100_000;

/** The grammar grew past `MAX_GRAMMAR_CHARS` while rendering (nested schemas repeat their parts). */
export class GrammarTooLargeError extends Error {
  constructor() {
    super(`the grammar grew past ${MAX_GRAMMAR_CHARS} characters`);
  }
}

export function rep(item: Node, min: number, max: number | null): Node {
  if (max !== null && max < min) throw new Error(`rep: max ${max} < min ${min}`);
  if (isEmpty(item) || max === 0) return EMPTY;
  if (min === 1 && max === 1) return item;
  return { k: "rep", item, min, max };
}

export const opt = (n: Node): Node => rep(n, 0, 1);
export const star = (n: Node): Node => rep(n, 0, null);

/** `first (sep item)*` within [min, max] items (min ≥ 1 unless the caller wraps it in `opt`). */
export function list(item: Node, sep: Node, min: number, max: number | null): Node {
  if (max === 0) return EMPTY;
  const rest = rep(seq(sep, item), Math.max(0, min - 1), max === null ? null : max - 1);
  const one = seq(item, rest);
  return min === 0 ? opt(one) : one;
}

const GBNF_ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A GBNF string literal. */
function gbnfLiteral(s: string): string {
  let out = '"';
  for (const ch of s) {
    const e = GBNF_ESCAPES[ch];
    if (e !== undefined) out += e;
    else {
      const c = ch.codePointAt(0) as number;
      out += c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, "0")}` : ch;
    }
  }
  return out + '"';
}

/** Collects named rules for one grammar. */
export class GrammarBuilder {
  readonly #rules = new Map<string, Node | null>();
  readonly #byBody = new Map<string, string>();

  /** A rule named after `hint` whose body is `node` (reusing an identical rule); returns a reference. */
  rule(hint: string, node: Node): Node {
    if (node.k === "ref" || node.k === "lit" || node.k === "cls") return node;
    const body = this.#render(node, 0);
    const existing = this.#byBody.get(body);
    if (existing !== undefined) return { k: "ref", name: existing };
    const name = this.reserve(hint);
    this.define(name, node);
    return { k: "ref", name };
  }

  /** A fresh rule name (for recursive rules: reserve, reference, then `define`). */
  reserve(hint: string): string {
    const base =
      hint
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 40) || "r";
    let name = base === "root" ? "root-1" : base;
    for (let i = 2; this.#rules.has(name); i++) name = `${base}-${i}`;
    this.#rules.set(name, null);
    return name;
  }

  define(name: string, node: Node): void {
    if (this.#rules.get(name) !== null) throw new Error(`rule ${name} is not reserved or already defined`);
    this.#rules.set(name, node);
    this.#byBody.set(this.#render(node, 0), name);
  }

  /** The GBNF text: `root ::= …` then every rule. */
  toGbnf(root: Node): string {
    const lines = [`root ::= ${this.#render(root, 0)}`];
    for (const [name, node] of this.#rules) {
      if (node === null) throw new Error(`rule ${name} was reserved but never defined`);
      lines.push(`${name} ::= ${this.#render(node, 0)}`);
    }
    return `${lines.join("\n")}\n`;
  }

  /** An anchored RegExp accepting the same strings (throws on recursive rules). */
  toRegExp(root: Node): RegExp {
    return new RegExp(`^(?:${this.#regex(root, [])})$`, "u");
  }

  /** prec: 0 = top (alternation allowed), 1 = inside a sequence, 2 = operand of a quantifier. */
  #render(n: Node, prec: number): string {
    const s = this.#renderNode(n, prec);
    if (s.length > MAX_GRAMMAR_CHARS) throw new GrammarTooLargeError();
    return s;
  }

  #renderNode(n: Node, prec: number): string {
    switch (n.k) {
      case "lit":
        return gbnfLiteral(n.s);
      case "cls":
        return n.gbnf;
      case "ref":
        return n.name;
      case "seq": {
        if (n.items.length === 0) return '""';
        const s = n.items.map((i) => this.#render(i, 1)).join(" ");
        return prec >= 2 && n.items.length > 1 ? `(${s})` : s;
      }
      case "alt": {
        const s = n.items.map((i) => this.#render(i, 0)).join(" | ");
        return prec >= 1 ? `(${s})` : s;
      }
      case "rep": {
        const inner = this.#render(n.item, 2);
        const { min, max } = n;
        let q: string;
        if (min === 0 && max === 1) q = "?";
        else if (min === 0 && max === null) q = "*";
        else if (min === 1 && max === null) q = "+";
        else if (max === null) q = `{${min},}`;
        else if (min === max) q = `{${min}}`;
        else q = `{${min},${max}}`;
        return inner + q;
      }
    }
  }

  #regex(n: Node, stack: string[]): string {
    switch (n.k) {
      case "lit":
        return escapeRegExp(n.s);
      case "cls":
        return n.re;
      case "ref": {
        if (stack.includes(n.name)) throw new Error(`recursive rule ${n.name} has no RegExp form`);
        const body = this.#rules.get(n.name);
        if (!body) throw new Error(`undefined rule ${n.name}`);
        return `(?:${this.#regex(body, [...stack, n.name])})`;
      }
      case "seq":
        return n.items.map((i) => `(?:${this.#regex(i, stack)})`).join("");
      case "alt":
        return `(?:${n.items.map((i) => this.#regex(i, stack)).join("|")})`;
      case "rep": {
        const q = n.max === null ? `{${n.min},}` : `{${n.min},${n.max}}`;
        return `(?:${this.#regex(n.item, stack)})${q}`;
      }
    }
  }
}
