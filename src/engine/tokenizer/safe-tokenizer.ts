/**
 * Tokenization that no input can crash or make slow to refuse.
 *
 * llama.cpp's pre-tokenizer for the GPT-4o / o200k pattern (Llama 4's) runs `std::regex`, which
 * recurses once per character of a match and overflows the stack near 26k characters: one chat
 * message of 20,000 `x` killed the process (ggml-org/llama.cpp#27783). So llama.cpp is never handed a
 * long run here:
 * - a text of at most `run` UTF-16 units (1,000) goes to llama.cpp whole;
 * - a longer one is cut as llama.cpp would cut it, then tokenized piece by piece: special tokens are
 *   split out first (`partition`, llama.cpp's `tokenizer_st_partition`), each text fragment is split into
 *   words by the same pre-tokenizer (`gpt4o-split.ts`), consecutive words go to llama.cpp in chunks of at
 *   most `chunk` units, and a word longer than `run` is tokenized by herd's own byte-level BPE over the
 *   GGUF's vocabulary and merges (`bpe.ts`). Tokens never cross a word, so the result is llama.cpp's
 *   (checked on a corpus against llama.cpp itself: test/engine/tokenizer-corpus.test.ts);
 * - vocabularies without a regex pre-tokenizer (SentencePiece and the like) and BPE pre-tokenizers
 *   llama.cpp splits with linear code (GPT-2, Llama 3, Qwen 2 patterns) go to llama.cpp whole; other
 *   BPE pre-tokenizers are cut only where a letter meets whitespace (a word boundary for every such
 *   pattern), and a stretch longer than 4 × `run` without one is refused with a clear error.
 * A `maxTokens` bound refuses a text that cannot fit before any of this: no token covers more than
 * the vocabulary's longest piece, so `bytes / longest` tokens at least.
 *
 * The work is a generator that yields every few milliseconds' worth of steps (`undefined`), and yields
 * a `RawCall` where a whole text goes to llama.cpp in one call that may take long (SentencePiece is
 * quadratic on some runs: 1 MB of newlines takes it a minute): `tokenizeSync` runs it to the end and
 * makes such calls itself, the async driver in `llama-vocab.ts` gives the event loop a turn at each
 * plain yield and makes a raw call on a worker thread.
 * @module
 */
import { ContextLengthExceededError, InvalidRequestError } from "../../common/errors.js";
import { escapeRegExp } from "../../common/regexp.js";
import type { TokenId } from "../types.js";
import { type BpeTables, bpeWord } from "./bpe.js";
import { splitGpt4o } from "./gpt4o-split.js";
import { SharedLoad } from "./shared-load.js";

/** What the safe tokenizer needs of a vocabulary (llama.cpp's, through `LlamaVocab`). */
export interface VocabAccess {
  /** llama.cpp's own `llama_tokenize` (safe only for short texts). */
  raw(text: string, addSpecial: boolean, parseSpecial: boolean): TokenId[];
  /**
   * Everything needed for long texts, loaded once on first use (reads the GGUF's tokenizer arrays); a
   * generator that yields between slices of the work.
   */
  longTextSupport(): Generator<undefined, LongTextSupport>;
}

export interface SpecialToken {
  readonly id: TokenId;
  readonly text: string;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  /** CONTROL or UNKNOWN: matched only when parsing special tokens (USER_DEFINED always is). */
  readonly controlOrUnknown: boolean;
}

export interface LongTextSupport {
  /** "gpt4o": herd reproduces the split; "bpe": another regex pre-tokenizer; "other": no regex. */
  readonly splitter: "gpt4o" | "bpe" | "other";
  readonly specials: readonly SpecialToken[];
  /** BOS / EOS added by `addSpecial` (null: none). */
  readonly bos: TokenId | null;
  readonly eos: TokenId | null;
  /** Bytes of the longest token piece (special tokens as text included). */
  readonly maxTokenBytes: number;
  /** For "gpt4o" only: the BPE tables (built on the first word that needs them; yields while building). */
  bpeTables(): Generator<undefined, BpeTables>;
}

export interface SafeTokenizerLimits {
  /** Longest text (UTF-16 units) handed to llama.cpp unsplit, and longest word handed to it at all. */
  readonly run: number;
  /** Longest piece of consecutive words per llama.cpp call. */
  readonly chunk: number;
}

/**
 * `run`: llama.cpp's regex crashed on the main thread's 8 MiB stack at 6,000 characters of alternating
 * space and newline (4,000 passed) and at 8,000 of one letter (5,000 passed), measured with this
 * build; 1,000 leaves a margin of four. Longer texts take the split path, checked token for token on
 * the corpus.
 */
const DEFAULT_TOKENIZER_LIMITS: SafeTokenizerLimits = { run: 1000, chunk: 16384 };

/** A whole text for llama.cpp in one call; the driver sends back its tokens. */
export interface RawCall {
  readonly text: string;
  readonly addSpecial: boolean;
  readonly parseSpecial: boolean;
}

/** What the tokenizer generator yields, and what its driver sends back. */
export type TokenizeStep = Generator<RawCall | undefined, TokenId[], TokenId[] | undefined>;

export interface SafeTokenizeOptions {
  readonly addSpecial: boolean;
  readonly parseSpecial: boolean;
  /** Refuse (ContextLengthExceededError) a text that cannot fit in this many tokens. */
  readonly maxTokens?: number;
}

export class SafeTokenizer {
  readonly #support = new SharedLoad(() => this.vocab.longTextSupport());
  readonly #partitioners = new Map<boolean, RegExp | null>();

  constructor(
    private readonly vocab: VocabAccess,
    readonly limits: SafeTokenizerLimits = DEFAULT_TOKENIZER_LIMITS,
  ) {}

  *#long(): Generator<undefined, LongTextSupport> {
    return yield* this.#support.get();
  }

  /** Loads what long texts need ahead of the first one (a generator like `tokenize`). */
  *prepare(): Generator<undefined, void> {
    yield* this.#long();
  }

  /** The tokenizer as a generator that yields between bounded steps. */
  *tokenize(text: string, opts: SafeTokenizeOptions): TokenizeStep {
    if (opts.maxTokens !== undefined && text.length > opts.maxTokens) {
      // UTF-8 takes at least one byte per UTF-16 unit, so only such texts can fail the bound.
      const bytes = Buffer.byteLength(text, "utf8");
      const longest = (yield* this.#long()).maxTokenBytes;
      const atLeast = Math.ceil(bytes / longest);
      if (atLeast > opts.maxTokens) {
        throw new ContextLengthExceededError(atLeast, opts.maxTokens, "", {
          atLeast: `${bytes} bytes of text, and no token of this model covers more than ${longest} bytes`,
        });
      }
    }
    if (text.length <= this.limits.run) return this.vocab.raw(text, opts.addSpecial, opts.parseSpecial);
    yield; // before any work that grows with the text: the async driver takes its turn here
    const s = yield* this.#long();
    if (s.splitter === "other") return (yield { text, addSpecial: opts.addSpecial, parseSpecial: opts.parseSpecial })!;
    const out: TokenId[] = [];
    if (opts.addSpecial && s.bos !== null) out.push(s.bos);
    for (const frag of yield* partition(text, this.#partitioner(s, opts.parseSpecial), s.specials)) {
      if (typeof frag === "number") out.push(frag);
      else append(out, yield* this.#fragment(frag, s));
      yield;
    }
    if (opts.addSpecial && s.eos !== null) out.push(s.eos);
    return out;
  }

  /** Runs `tokenize` to the end without yielding. */
  tokenizeSync(text: string, opts: SafeTokenizeOptions): TokenId[] {
    const gen = this.tokenize(text, opts);
    let reply: TokenId[] | undefined;
    for (;;) {
      const r = gen.next(reply);
      if (r.done) return r.value;
      reply = r.value ? this.vocab.raw(r.value.text, r.value.addSpecial, r.value.parseSpecial) : undefined;
    }
  }

  #partitioner(s: LongTextSupport, parseSpecial: boolean): RegExp | null {
    if (!this.#partitioners.has(parseSpecial)) {
      const texts = s.specials.filter((t) => t.text.length > 0 && (parseSpecial || !t.controlOrUnknown)).map((t) => t.text);
      texts.sort((a, b) => Buffer.byteLength(b) - Buffer.byteLength(a));
      this.#partitioners.set(parseSpecial, texts.length === 0 ? null : new RegExp(texts.map(escapeRegExp).join("|"), "g"));
    }
    return this.#partitioners.get(parseSpecial)!;
  }

  /** One text fragment (no special tokens in it) → tokens, never handing llama.cpp a long word. */
  *#fragment(text: string, s: LongTextSupport): Generator<undefined, TokenId[]> {
    if (text.length <= this.limits.run) return this.vocab.raw(text, false, false);
    const ends = s.splitter === "gpt4o" ? yield* splitGpt4o(text) : letterSpaceCuts(text);
    const out: TokenId[] = [];
    let chunkStart = 0;
    let wordStart = 0;
    /** Ends of the words in the current chunk (the chunk runs from `chunkStart` to the last). */
    const chunkEnds: number[] = [];
    // A chunk never ends with a whitespace-only word: in "a  1" llama.cpp's `\s+(?!\S)` backs off
    // one space because "1" follows (words "a", " ", " ", "1"), but at the end of a chunk the
    // lookahead succeeds and "  " would be one word. Trailing whitespace words are tokenized one by
    // one instead; alone, each is matched whole, as in the full text.
    const flush = () => {
      let k = chunkEnds.length;
      while (k > 0 && BLANK.test(text.slice(k > 1 ? chunkEnds[k - 2]! : chunkStart, chunkEnds[k - 1]!))) k--;
      const cut = k > 0 ? chunkEnds[k - 1]! : chunkStart;
      if (cut > chunkStart) append(out, this.vocab.raw(text.slice(chunkStart, cut), false, false));
      for (let j = k, from = cut; j < chunkEnds.length; from = chunkEnds[j++]!)
        append(out, this.vocab.raw(text.slice(from, chunkEnds[j]!), false, false));
      chunkStart = wordStart;
      chunkEnds.length = 0;
    };
    for (const end of ends) {
      if (s.splitter !== "gpt4o" && end - wordStart > 4 * this.limits.run) {
        throw new InvalidRequestError(
          `The prompt has a run of ${end - wordStart} characters without a break between a letter and whitespace; ` +
            `this model's tokenizer takes at most ${4 * this.limits.run}.`,
          { code: "prompt_run_too_long", param: "messages" },
        );
      }
      if (s.splitter === "gpt4o" && end - wordStart > this.limits.run) {
        flush();
        append(out, yield* bpeWord(text.slice(wordStart, end), yield* s.bpeTables()));
        chunkStart = end;
      } else {
        if (end - chunkStart > this.limits.chunk && chunkEnds.length > 0) {
          flush();
          yield;
        }
        chunkEnds.push(end);
      }
      wordStart = end;
    }
    flush();
    return out;
  }
}

/**
 * llama.cpp's special-token partition: the text split around every occurrence of a special token's
 * text (longest texts first; one leftmost-longest scan gives the same cuts as llama.cpp's
 * token-by-token passes whenever no special text can overlap another, as in Llama 4's `<|…|>` set),
 * with whitespace stripped beside tokens marked lstrip / rstrip.
 */
export function* partition(
  text: string,
  re: RegExp | null,
  specials: readonly SpecialToken[],
): Generator<undefined, Array<string | TokenId>> {
  if (re === null) return [text];
  const byText = new Map<string, SpecialToken>();
  for (const t of specials) if (!byText.has(t.text)) byText.set(t.text, t);
  const out: Array<string | TokenId> = [];
  let pos = 0;
  let stripNext = false;
  re.lastIndex = 0;
  let count = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if ((++count & 0xfff) === 0) yield;
    const tok = byText.get(m[0])!;
    let left = text.slice(pos, m.index);
    if (stripNext) left = stripStart(left);
    if (tok.lstrip) left = stripEnd(left);
    if (left.length > 0) out.push(left);
    out.push(tok.id);
    stripNext = tok.rstrip;
    pos = m.index + m[0].length;
  }
  let rest = text.slice(pos);
  if (stripNext) rest = stripStart(rest);
  if (rest.length > 0) out.push(rest);
  return out;
}

/** C's isspace in the "C" locale, as llama.cpp strips beside lstrip/rstrip tokens (a loop: V8's `\s+$` is quadratic). */
const isCSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
function stripStart(s: string): string {
  let i = 0;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  return s.slice(i);
}
function stripEnd(s: string): string {
  let i = s.length;
  while (i > 0 && isCSpace(s.charCodeAt(i - 1))) i--;
  return s.slice(0, i);
}

/** Cut points where a letter meets whitespace (a word boundary in every regex pre-tokenizer). */
function letterSpaceCuts(text: string): number[] {
  const ends: number[] = [];
  const re = /(?<=\p{L})(?=[ \t\n\r])/gu;
  for (const m of text.matchAll(re)) if (m.index > 0) ends.push(m.index);
  ends.push(text.length);
  return ends;
}

/** A whitespace-only word (JS `\s` plus U+0085, which llama.cpp also counts as whitespace). */
const BLANK = /^[\s\u0085]+$/u;

function append(out: TokenId[], ids: readonly TokenId[]): void {
  for (const id of ids) out.push(id);
}
