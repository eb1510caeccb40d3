/**
 * herd's tokenizer gives exactly llama.cpp's token ids, and no input crashes it.
 *
 * The corpus (test/fixtures/tokenizer-corpus.txt, 1.1 MB, written by scripts/gen-tokenizer-corpus.ts)
 * is tokenized by llama.cpp itself (`llamaTokenize`, safe on text without long runs) and by herd's
 * safe tokenizer with tiny limits, so that nearly every word boundary becomes a cut between llama.cpp
 * calls and every word over 24 characters goes through herd's own BPE: any difference in the
 * special-token partition, the pre-tokenizer split or the BPE shows up as a different id.
 * Then the runs that crash llama.cpp (ggml-org/llama.cpp#27783) are tokenized at 1 MB each.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { LlamaVocab } from "../../src/engine/runner/llama-vocab.js";
import { ContextLengthExceededError } from "../../src/common/errors.js";
import { ensureEmbeddedModel } from "../../src/model/embedded.js";
import { CORPUS_PATH, DOC_SEPARATOR, generateCorpus } from "../../scripts/gen-tokenizer-corpus.js";
import { fixturePath } from "../fixtures/paths.js";

const corpus = readFileSync(CORPUS_PATH, "utf8");
const docs = corpus.split(DOC_SEPARATOR);
const TINY = { run: 24, chunk: 96 };
const quiet = () => {};

it("the corpus file is what its script writes, over 1 MB", () => {
  expect(Buffer.byteLength(corpus)).toBeGreaterThan(1_000_000);
  expect(corpus).toBe(
    generateCorpus().replace(/[\ud800-\udfff]/g, (c, i, s) => {
      // The file is UTF-8: a lone surrogate the script emits is stored as U+FFFD.
      const code = c.charCodeAt(0);
      const pair = (code < 0xdc00 && /[\udc00-\udfff]/.test(s[i + 1] ?? "")) || (code >= 0xdc00 && /[\ud800-\udbff]/.test(s[i - 1] ?? ""));
      return pair ? c : "\ufffd";
    }),
  );
});

// SentencePiece has no regex to crash, but llama.cpp's is quadratic on some runs (1 MB of newlines
// takes it about a minute, on a worker thread): its runs are shorter here.
// stories260K only where its fixture is (outside CI a missing one skips it).
const stories = fixturePath("stories260K.gguf");
const models: Array<[string, () => Promise<string>, number]> = [
  ["the embedded Llama 4 model (GPT-4o pre-tokenizer, byte-level BPE)", async () => ensureEmbeddedModel(), 1_000_000],
  ...(stories === null ? [] : [["stories260K (SentencePiece)", async () => stories, 20_000] as [string, () => Promise<string>, number]]),
];
describe.each(models)("%s", (_name, modelPath, runLength) => {
  let tiny: LlamaVocab;
  let real: LlamaVocab;
  beforeAll(async () => {
    const path = await modelPath();
    tiny = LlamaVocab.loadVocabOnly(path, quiet, TINY);
    real = LlamaVocab.loadVocabOnly(path, quiet);
    return () => {
      tiny.close();
      real.close();
    };
  });

  it("matches llama.cpp token for token on every corpus document, cut as finely as possible", async () => {
    let compared = 0;
    for (const [addSpecial, parseSpecial] of [
      [true, true],
      [false, false],
    ] as const) {
      for (const doc of docs) {
        const want = tiny.llamaTokenize(doc, addSpecial, parseSpecial);
        const got = await tiny.tokenizeAsync(doc, { addSpecial, parseSpecial });
        if (got.length !== want.length || got.some((t, i) => t !== want[i])) {
          expect({ doc: doc.slice(0, 200), got }).toEqual({ doc: doc.slice(0, 200), got: want });
        }
        compared += want.length;
      }
    }
    expect(compared).toBeGreaterThan(200_000);
  });

  it("matches llama.cpp wherever a chunk is cut (whitespace runs before digits, tabs, newlines)", async () => {
    const path = await modelPath();
    const tricky = Array.from(
      { length: 40 },
      (_, i) => `Total${" ".repeat(1 + (i % 4))}${1000 + i}\t\t!!!${" ".repeat(i % 3)}\n${"\n".repeat(i % 2)}  x${i % 5 === 0 ? "  " : ""}`,
    ).join("");
    for (const chunk of [8, 13, 21, 34]) {
      const v = LlamaVocab.loadVocabOnly(path, quiet, { run: 8, chunk });
      try {
        expect(v.tokenize(tricky, false, true)).toEqual(v.llamaTokenize(tricky, false, true));
      } finally {
        v.close();
      }
    }
  });

  it("matches llama.cpp on the whole corpus at once with the default limits", () => {
    expect(real.tokenize(corpus, true, true)).toEqual(real.llamaTokenize(corpus, true, true));
  });

  it("matches llama.cpp on runs 2.5 times the longest it is handed, alone and in context", () => {
    // 2,500 units: long enough for herd's own BPE, short enough not to crash llama.cpp (a run of
    // " \n" does at 6,000).
    for (const c of ["x", "Ab", "1", " ", "\n", " \n", "\r\n", "!", "漢", "😀", "é", "e\u0301", "\t"]) {
      const run = c.repeat(Math.floor(2500 / c.length));
      for (const text of [run, `Hello ${run}'s world`, `<|eot|>${run}<|eot|>`, `${run} and ${run.toUpperCase()}`]) {
        expect(real.tokenize(text, false, true)).toEqual(real.llamaTokenize(text, false, true));
      }
    }
  });

  it(`tokenizes runs of every character class that crash llama.cpp's regex (${runLength} each)`, async () => {
    for (const c of ["x", "1", " ", "\n", "!", "漢", "😀", "é"]) {
      const run = c.repeat(runLength);
      const ids = await real.tokenizeAsync(run, { addSpecial: false, parseSpecial: true });
      expect(ids.length).toBeGreaterThan(0);
      // Round trip: the ids spell the text back (SentencePiece adds its prefix space).
      const back = real.detokenize(ids, false);
      expect(back.length === run.length + 1 ? back.slice(1) : back).toBe(run);
    }
  });

  it("refuses a text that cannot fit before tokenizing it", async () => {
    const text = "hello ".repeat(1_200_000);
    await expect(real.tokenizeAsync(text, { addSpecial: false, parseSpecial: true, maxTokens: 8192 })).rejects.toThrow(
      ContextLengthExceededError,
    );
    // Refused from the text's length alone: the message says which path ran (no latency threshold).
    await expect(real.tokenizeAsync(text, { addSpecial: false, parseSpecial: true, maxTokens: 8192 })).rejects.toThrow(
      /at least \d+ prompt tokens .*refused before tokenizing/,
    );
  });
});
