import { describe, expect, it } from "vitest";
import { RadixTree } from "./radix-tree.js";

describe("RadixTree", () => {
  it("matches the longest stored prefix, across split edges", () => {
    const t = new RadixTree();
    expect(t.matchPrefixLength("hello")).toBe(0);
    t.insert("hello world");
    t.insert("hello there");
    t.insert("help");
    expect(t.matchPrefixLength("hello world!")).toBe(11);
    expect(t.matchPrefixLength("hello th")).toBe(8);
    expect(t.matchPrefixLength("helium")).toBe(3);
    expect(t.matchPrefixLength("x")).toBe(0);
    expect(t.matchPrefixLength("")).toBe(0);
    // "hel" + "lo " + "world" + "there" + "p": every character stored once.
    expect(t.numChars).toBe("hello world".length + "there".length + "p".length);
  });

  it("counts a repeated insert once", () => {
    const t = new RadixTree();
    t.insert("abc");
    t.insert("abc");
    t.insert("ab");
    expect(t.numChars).toBe(3);
    expect(t.matchPrefixLength("abcd")).toBe(3);
  });

  it("evicts the least recently used leaves past maxChars, down to 90 % of it", () => {
    const t = new RadixTree(25);
    t.insert("aaaaaaaaaa"); // 10
    t.insert("bbbbbbbbbb"); // 20
    expect(t.matchPrefixLength("bbbbbbbbbb")).toBe(10); // a match refreshes nothing
    t.insert("aaaaaaaaaa"); // an insert does: b is now the oldest
    t.insert("cccccccccc"); // 30 > 25: down to 22, so b goes
    expect(t.numChars).toBe(20);
    expect(t.matchPrefixLength("bbbbbbbbbb")).toBe(0);
    expect(t.matchPrefixLength("aaaaaaaaaa")).toBe(10);
    expect(t.matchPrefixLength("cccccccccc")).toBe(10);
  });

  it("evicts inner nodes once their leaves are gone", () => {
    const t = new RadixTree(1000);
    t.insert("shared-prefix/one");
    t.insert("shared-prefix/two");
    t.evict(0);
    expect(t.numChars).toBe(0);
    expect(t.matchPrefixLength("shared")).toBe(0);
  });
});
