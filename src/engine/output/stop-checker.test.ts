import { describe, expect, it } from "vitest";
import { StopChecker } from "./stop-checker.js";

interface Outcome {
  emitted: string;
  stopString: string | undefined;
}

/** Feeds `chunks` until a stop; flushes when none is found. */
function run(stops: string[], chunks: string[]): Outcome {
  const checker = new StopChecker(stops);
  let emitted = "";
  for (const chunk of chunks) {
    const r = checker.push(chunk);
    emitted += r.emit;
    if (r.stopped) return { emitted, stopString: r.stopString };
  }
  return { emitted: emitted + checker.flush(), stopString: undefined };
}

/** Every split of `text` into two and three chunks, plus one character per chunk. */
function splits(text: string): string[][] {
  const out: string[][] = [[text], Array.from(text)];
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j++) out.push([text.slice(0, i), text.slice(i, j), text.slice(j)]);
  }
  return out;
}

/** The answer a character-by-character reader gives: the stop complete earliest (longest on ties). */
function expected(stops: string[], text: string): Outcome {
  for (let end = 1; end <= text.length; end++) {
    const done = stops.filter((s) => text.slice(0, end).endsWith(s)).sort((a, b) => b.length - a.length);
    if (done[0] !== undefined) return { emitted: text.slice(0, end - done[0].length), stopString: done[0] };
  }
  return { emitted: text, stopString: undefined };
}

describe("StopChecker", () => {
  it("passes text through without stop strings", () => {
    const c = new StopChecker([]);
    expect(c.push("hello")).toEqual({ emit: "hello", stopped: false });
    expect(c.flush()).toBe("");
  });

  it("finds a stop string split at every character boundary, and never emits it or what follows", () => {
    const text = "Hello world\n\nUser: hi";
    for (const chunks of splits(text)) {
      expect(run(["\n\nUser:"], chunks)).toEqual({ emitted: "Hello world", stopString: "\n\nUser:" });
    }
  });

  it("matches every split of texts against the character-by-character answer", () => {
    const cases: Array<[string[], string]> = [
      [["ab", "abc"], "xxabcx"],
      [["abc", "bc"], "aabcd"],
      [["abcd", "bc"], "abcd"],
      [["aab"], "aaab"],
      [["aaa"], "aaaa"],
      [["abab"], "abababx"],
      [["END", "STOP", "ND"], "the eNDEND"],
      [["x"], "x"],
      [["STOP"], "no stop here ST"],
      [["😀!"], "a😀😀!b"],
    ];
    for (const [stops, text] of cases) {
      for (const chunks of splits(text))
        expect(run(stops, chunks), `${JSON.stringify(stops)} ${JSON.stringify(chunks)}`).toEqual(expected(stops, text));
    }
  });

  it("stops at the very start with nothing emitted", () => {
    for (const chunks of [["STOP and more"], ["S", "TOP"], ["STOP"]]) {
      expect(run(["STOP"], chunks)).toEqual({ emitted: "", stopString: "STOP" });
    }
  });

  it("holds back exactly the text that could start a stop string", () => {
    const c = new StopChecker(["</answer>", "\n\n"]);
    expect(c.push("The answer is 42</an")).toEqual({ emit: "The answer is 42", stopped: false });
    expect(c.push("swer")).toEqual({ emit: "", stopped: false });
    expect(c.push("ed>")).toEqual({ emit: "</answered>", stopped: false });
    expect(c.push("ok\n")).toEqual({ emit: "ok", stopped: false });
    expect(c.flush()).toBe("\n");
  });

  it("with overlapping prefixes, the shorter stop wins as soon as it completes", () => {
    expect(run(["ab", "abc"], ["xa", "bc"])).toEqual({ emitted: "x", stopString: "ab" });
    expect(run(["abc", "ab"], ["xabc"])).toEqual({ emitted: "x", stopString: "ab" });
  });

  it("stays stopped: later pushes emit nothing, flush returns nothing", () => {
    const c = new StopChecker(["#"]);
    expect(c.push("a#b")).toEqual({ emit: "a", stopped: true, stopString: "#" });
    expect(c.isStopped).toBe(true);
    expect(c.push("more")).toEqual({ emit: "", stopped: true, stopString: "#" });
    expect(c.flush()).toBe("");
  });

  it("handles empty pushes", () => {
    const c = new StopChecker(["ab"]);
    expect(c.push("")).toEqual({ emit: "", stopped: false });
    expect(c.push("a")).toEqual({ emit: "", stopped: false });
    expect(c.push("")).toEqual({ emit: "", stopped: false });
    expect(c.push("b")).toEqual({ emit: "", stopped: true, stopString: "ab" });
  });

  it("stays linear with 16 stop strings of 1,000 characters over a long output", () => {
    const stops = Array.from({ length: 16 }, (_, i) => "a".repeat(999) + String.fromCharCode(98 + i));
    const c = new StopChecker(stops);
    const start = performance.now();
    let emitted = 0;
    for (let i = 0; i < 50_000; i++) emitted += c.push(i % 100 === 99 ? "z" : "aaaa").emit.length;
    expect(emitted).toBeGreaterThan(190_000);
    expect(c.push("a".repeat(999) + "c")).toMatchObject({ stopped: true, stopString: stops[1] });
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
