import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../common/errors.js";
import { type LongTextSupport, partition, SafeTokenizer, type SpecialToken } from "./safe-tokenizer.js";
import { SharedLoad } from "./shared-load.js";

/** A fake vocabulary: one token per UTF-16 unit (its code), specials as given; records raw calls. */
function fake(splitter: LongTextSupport["splitter"], specials: SpecialToken[] = []) {
  const calls: string[] = [];
  const tok = new SafeTokenizer(
    {
      raw: (text) => {
        calls.push(text);
        return Array.from(text, (c) => c.charCodeAt(0));
      },
      *longTextSupport() {
        yield;
        return {
          splitter,
          specials,
          bos: 1,
          eos: null,
          maxTokenBytes: 4,
          bpeTables: () => {
            throw new Error("not used");
          },
        };
      },
    },
    { run: 10, chunk: 30 },
  );
  return { tok, calls };
}

describe("SafeTokenizer", () => {
  it("hands short texts to llama.cpp whole", () => {
    const { tok, calls } = fake("bpe");
    expect(tok.tokenizeSync("short", { addSpecial: true, parseSpecial: true })).toEqual(Array.from("short", (c) => c.charCodeAt(0)));
    expect(calls).toEqual(["short"]);
  });

  it("cuts other BPE pre-tokenizers only where a letter meets whitespace, in chunks, with BOS once", () => {
    const { tok, calls } = fake("bpe");
    const text = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
    const ids = tok.tokenizeSync(text, { addSpecial: true, parseSpecial: true });
    expect(ids).toEqual([1, ...Array.from(text, (c) => c.charCodeAt(0))]);
    expect(calls.join("")).toBe(text);
    for (const c of calls) expect(c.length).toBeLessThanOrEqual(30 + 10);
    for (const c of calls.slice(1)) expect(c.startsWith(" ")).toBe(true);
  });

  it("refuses a long stretch without a letter-whitespace boundary for other BPE pre-tokenizers", () => {
    const { tok } = fake("bpe");
    expect(() => tok.tokenizeSync(`a ${"x".repeat(50)} b`, { addSpecial: false, parseSpecial: true })).toThrow(InvalidRequestError);
  });

  it("sends a whole text in one raw call for vocabularies without a regex (the driver makes it)", () => {
    const { tok, calls } = fake("other");
    const text = "y".repeat(100);
    const gen = tok.tokenize(text, { addSpecial: false, parseSpecial: true });
    let r = gen.next();
    while (!r.done && r.value === undefined) r = gen.next();
    expect(r.value).toEqual({ text, addSpecial: false, parseSpecial: true });
    expect(gen.next([7]).value).toEqual([7]);
    expect(calls).toEqual([]);
  });

  it("refuses from the text's length alone when it cannot fit", () => {
    const { tok, calls } = fake("bpe");
    expect(() => tok.tokenizeSync("z".repeat(400), { addSpecial: false, parseSpecial: true, maxTokens: 99 })).toThrow(
      /at least 100 prompt tokens/,
    );
    expect(calls).toEqual([]);
  });
});

describe("partition", () => {
  const specials: SpecialToken[] = [
    { id: 10, text: "<|eot|>", lstrip: false, rstrip: false, controlOrUnknown: true },
    { id: 11, text: "<mask>", lstrip: true, rstrip: true, controlOrUnknown: false },
  ];
  it("splits special tokens out, longest first, and strips whitespace beside lstrip/rstrip ones", () => {
    const re = /<\|eot\|>|<mask>/g;
    const run = <T>(g: Generator<undefined, T>): T => {
      for (;;) {
        const r = g.next();
        if (r.done) return r.value;
      }
    };
    expect(run(partition("a<|eot|>b  <mask>  c<|eot|>", re, specials))).toEqual(["a", 10, "b", 11, "c", 10]);
    expect(run(partition("plain", null, specials))).toEqual(["plain"]);
  });
});

describe("SharedLoad", () => {
  it("does the work once for concurrent callers, and rethrows a failure to each", () => {
    let runs = 0;
    const load = new SharedLoad(function* () {
      runs++;
      yield;
      yield;
      return 42;
    });
    const a = load.get();
    const b = load.get();
    a.next();
    b.next();
    expect(a.next()).toEqual({ done: true, value: 42 });
    expect(b.next()).toEqual({ done: true, value: 42 });
    expect(runs).toBe(1);
    const bad = new SharedLoad<number>(function* () {
      yield;
      throw new Error("boom");
    });
    for (let i = 0; i < 2; i++) expect(() => [...bad.get()]).toThrow("boom");
  });
});
