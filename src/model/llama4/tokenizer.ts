/**
 * The Llama 4 tokenizer as llama.cpp reads it from a GGUF: byte-level BPE (`tokenizer.ggml.model =
 * "gpt2"`, pre-tokenizer `"llama4"`, i.e. the o200k split regex), 200,000 regular tokens, then the
 * 2,048 Llama 4 special tokens at their real ids 200000..202047 (202,048 = `vocab_size`).
 *
 * The regular tokens come from the o200k_base ranks shipped in the `js-tiktoken` npm package
 * (199,998 ranks; the two remaining regular slots 199998/199999 are unused `[PADn]` fillers). Ranks
 * are converted to GPT-2 byte-to-unicode strings, and `tokenizer.ggml.merges` is derived from the
 * ranks: each token's merge is the final pair left by running BPE on its bytes with only the ranks
 * below it (the same derivation the Hugging Face / llama.cpp converters use for tiktoken files).
 *
 * Everything here is built in memory in about a second and memoized per process; nothing is cached
 * on disk. The compile feature reuses the pieces (special tokens, chat template, the ranks → merges
 * derivation and `tokenizerMetadata`) for real checkpoints.
 * @module
 */
import o200k from "js-tiktoken/ranks/o200k_base";
import { gguf, type GgufValue } from "../gguf/gguf-writer.js";

/** `llama_token_type` values stored in `tokenizer.ggml.token_type`. */
export enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export const LLAMA4_NUM_REGULAR_TOKENS = 200_000;
const LLAMA4_NUM_SPECIAL_TOKENS = 2_048;
export const LLAMA4_VOCAB_SIZE = LLAMA4_NUM_REGULAR_TOKENS + LLAMA4_NUM_SPECIAL_TOKENS; // 202048

/** Ids of the named Llama 4 special tokens (Meta `tokenizer.py`, llama4.md §3.1). */
export const LLAMA4_TOKEN_IDS = {
  beginOfText: 200000,
  endOfText: 200001,
  fimPrefix: 200002,
  fimMiddle: 200003,
  fimSuffix: 200004,
  headerStart: 200005,
  headerEnd: 200006,
  eom: 200007,
  eot: 200008,
  step: 200009,
  pythonStart: 200016,
  pythonEnd: 200017,
  finetuneRightPad: 200018,
  imageStart: 200080,
  imageEnd: 200081,
  tileXSeparator: 200084,
  tileYSeparator: 200085,
  image: 200090,
  patch: 200092,
} as const;

/** Special-token roles as llama.cpp metadata wants them. */
const LLAMA4_SPECIAL_IDS = {
  bos: LLAMA4_TOKEN_IDS.beginOfText,
  eos: LLAMA4_TOKEN_IDS.eot, // the Instruct eos_token
  eot: LLAMA4_TOKEN_IDS.eot,
  eom: LLAMA4_TOKEN_IDS.eom,
  pad: LLAMA4_TOKEN_IDS.finetuneRightPad,
} as const;

/**
 * The 2,048 special-token strings, index 0 = id 200000, in Meta's order: basic (5), text post-train
 * (14 named/reserved + 61 reserved), vision (12 + 1041 reserved), reasoning (10), then
 * `<|reserved_special_token_N|>` up to id 202047.
 */
export function llama4SpecialTokens(): string[] {
  const reserved = (kind: string, n: number, start: number) =>
    Array.from({ length: n }, (_, i) => `<|${kind}reserved_special_token_${start + i}|>`);
  const list = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|header_start|>",
    "<|header_end|>",
    "<|eom|>",
    "<|eot|>",
    "<|step|>",
    ...reserved("text_post_train_", 6, 0),
    "<|python_start|>",
    "<|python_end|>",
    "<|finetune_right_pad|>",
    ...reserved("text_post_train_", 61, 8),
    "<|image_start|>",
    "<|image_end|>",
    "<|vision_reserved_special_token_0|>",
    "<|vision_reserved_special_token_1|>",
    "<|tile_x_separator|>",
    "<|tile_y_separator|>",
    ...reserved("vision_", 4, 2),
    "<|image|>",
    "<|vision_reserved_special_token_6|>",
    "<|patch|>",
    ...reserved("vision_", 1041, 7),
    ...reserved("reasoning_", 8, 0),
    "<|reasoning_thinking_start|>",
    "<|reasoning_thinking_end|>",
  ];
  list.push(...reserved("", LLAMA4_NUM_SPECIAL_TOKENS - list.length, 0));
  return list;
}

/**
 * Llama 4 chat template (Jinja). Renders `<|begin_of_text|>` then one
 * `<|header_start|>{role}<|header_end|>\n\n{content}<|eot|>` per message (role `tool` → `ipython`;
 * content a string or a list of `{type:"text", text}` / `{type:"image"|"image_url"}` parts, images as
 * `<|image|>`), and with `add_generation_prompt` an open `<|header_start|>assistant<|header_end|>\n\n`.
 * The BOS is part of the rendered text: tokenize the result without adding special tokens.
 */
export const LLAMA4_CHAT_TEMPLATE = [
  "{{- '<|begin_of_text|>' -}}",
  "{%- for message in messages -%}",
  "{%- if message['role'] == 'tool' -%}{%- set role = 'ipython' -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}",
  "{{- '<|header_start|>' + role + '<|header_end|>\\n\\n' -}}",
  "{%- if message['content'] is string -%}",
  "{{- message['content'] -}}",
  "{%- elif message['content'] is defined and message['content'] is not none -%}",
  "{%- for part in message['content'] -%}",
  "{%- if part['type'] == 'text' -%}{{- part['text'] -}}",
  "{%- elif part['type'] == 'image' or part['type'] == 'image_url' -%}{{- '<|image|>' -}}",
  "{%- endif -%}",
  "{%- endfor -%}",
  "{%- endif -%}",
  "{{- '<|eot|>' -}}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}{{- '<|header_start|>assistant<|header_end|>\\n\\n' -}}{%- endif -%}",
].join("\n");

// ---------------------------------------------------------------------------------------------
// Byte-level BPE helpers (generic: usable with any tiktoken-style rank list)

let byteToUnicodeTable: string[] | undefined;
/** GPT-2's reversible byte → unicode-char map (printable bytes map to themselves). */
export function byteToUnicode(): readonly string[] {
  if (byteToUnicodeTable) return byteToUnicodeTable;
  const table: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  byteToUnicodeTable = table;
  return table;
}

/** A byte string (one char per byte, codes 0..255) → its GPT-2 byte-level token text. */
export function byteLevelEncode(bytes: string): string {
  const t = byteToUnicode();
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += t[bytes.charCodeAt(i)]!;
  return s;
}

/**
 * Parses tiktoken rank data: either the `.tiktoken` / Meta `tokenizer.model` text format (`<base64>
 * <rank>` per line) or js-tiktoken's compressed `bpe_ranks` string (`<tag> <offset> <b64> <b64>…`).
 * Returns byte strings (one char per byte) indexed by rank; missing ranks are `undefined`.
 */
export function parseTiktokenRanks(text: string): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const parts = line.split(" ");
    if (parts.length === 2) {
      out[Number(parts[1])] = Buffer.from(parts[0]!, "base64").toString("latin1");
    } else {
      const offset = Number(parts[1]);
      for (let i = 2; i < parts.length; i++) out[offset + i - 2] = Buffer.from(parts[i]!, "base64").toString("latin1");
    }
  }
  return out;
}

/**
 * Derives BPE merges from ranks (byte strings indexed by rank): for every multi-byte token, run BPE
 * on its bytes using only ranks below its own; the two parts left are its merge. Returned in rank
 * order as byte-level `"left right"` strings, the `tokenizer.ggml.merges` format. Tokens that do
 * not reduce to exactly two parts (none in o200k) get no merge.
 */
export function mergesFromRanks(ranks: ReadonlyArray<string | undefined>): string[] {
  const n = ranks.length;
  const rankOf = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = ranks[i];
    if (t !== undefined) rankOf.set(t, i);
  }
  const byteRank = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) byteRank[b] = rankOf.get(String.fromCharCode(b)) ?? -1;
  // Parts are ranks; the rank of a concatenated pair is cached by the pair (hits are the norm).
  const pairRank = new Map<number, number>();
  const merges: string[] = [];
  const parts: number[] = [];
  for (let r = 0; r < n; r++) {
    const tok = ranks[r];
    if (tok === undefined || tok.length < 2) continue;
    parts.length = 0;
    for (let i = 0; i < tok.length; i++) {
      const id = byteRank[tok.charCodeAt(i)]!;
      if (id < 0) throw new Error(`rank ${r}: byte ${tok.charCodeAt(i)} has no token of its own`);
      parts.push(id);
    }
    while (parts.length > 2) {
      let best = -1;
      let bestRank = r;
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = parts[i]! * n + parts[i + 1]!;
        let x = pairRank.get(key);
        if (x === undefined) {
          x = rankOf.get(ranks[parts[i]!]! + ranks[parts[i + 1]!]!) ?? -1;
          pairRank.set(key, x);
        }
        if (x >= 0 && x < bestRank) {
          bestRank = x;
          best = i;
        }
      }
      if (best < 0) break;
      parts.splice(best, 2, bestRank);
    }
    if (parts.length === 2) merges.push(`${byteLevelEncode(ranks[parts[0]!]!)} ${byteLevelEncode(ranks[parts[1]!]!)}`);
  }
  return merges;
}

// ---------------------------------------------------------------------------------------------
// The Llama 4 vocabulary

/** A byte-level BPE vocabulary in GGUF form. */
export interface BpeVocab {
  /** Token texts by id: byte-level strings for regular tokens, literal text for special ones. */
  readonly tokens: readonly string[];
  /** `TokenType` per id. */
  readonly tokenTypes: Int32Array;
  /** `"left right"` byte-level merges, highest priority first. */
  readonly merges: readonly string[];
}

export interface Llama4TokenizerSpec extends BpeVocab {
  readonly specialIds: typeof LLAMA4_SPECIAL_IDS;
  readonly chatTemplate: string;
}

let memo: Llama4TokenizerSpec | undefined;

/** The Llama 4 tokenizer layout (o200k regular tokens + Llama 4 specials). Memoized per process. */
export function buildLlama4Tokenizer(): Llama4TokenizerSpec {
  if (memo) return memo;
  const ranks = parseTiktokenRanks(o200k.bpe_ranks);
  if (ranks.length > LLAMA4_NUM_REGULAR_TOKENS) throw new Error(`o200k has ${ranks.length} ranks, more than ${LLAMA4_NUM_REGULAR_TOKENS}`);
  const tokens: string[] = new Array<string>(LLAMA4_VOCAB_SIZE);
  const tokenTypes = new Int32Array(LLAMA4_VOCAB_SIZE);
  for (let id = 0; id < LLAMA4_NUM_REGULAR_TOKENS; id++) {
    const bytes = ranks[id];
    if (bytes === undefined) {
      tokens[id] = `[PAD${id}]`;
      tokenTypes[id] = TokenType.UNUSED;
    } else {
      tokens[id] = byteLevelEncode(bytes);
      tokenTypes[id] = TokenType.NORMAL;
    }
  }
  llama4SpecialTokens().forEach((text, i) => {
    tokens[LLAMA4_NUM_REGULAR_TOKENS + i] = text;
    tokenTypes[LLAMA4_NUM_REGULAR_TOKENS + i] = TokenType.CONTROL;
  });
  if (new Set(tokens).size !== tokens.length) throw new Error("Llama 4 vocabulary has duplicate token texts");
  memo = { tokens, tokenTypes, merges: mergesFromRanks(ranks), specialIds: LLAMA4_SPECIAL_IDS, chatTemplate: LLAMA4_CHAT_TEMPLATE };
  return memo;
}

/** The o200k_base rank data as shipped by js-tiktoken (for reference encoders in tests/tools). */
export const O200K_RANKS = o200k;

/**
 * `tokenizer.*` metadata for a GGUF: model gpt2, pre `llama4`, tokens, types, merges, special ids
 * (bos, eos, eot, eom, padding), add_bos true / add_eos false, and the chat template. EOS, EOT and EOM
 * are all written because llama.cpp's end-of-generation set is the name heuristics (which only catch
 * `<|end_of_text|>` here) plus these three ids.
 */
export function tokenizerMetadata(
  spec: BpeVocab & { specialIds: { bos: number; eos: number; eot: number; eom: number; pad: number }; chatTemplate: string },
  pre = "llama4",
): Array<[string, GgufValue]> {
  return [
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str(pre)],
    ["tokenizer.ggml.tokens", gguf.strArr(spec.tokens)],
    ["tokenizer.ggml.token_type", gguf.i32Arr(spec.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.strArr(spec.merges)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(spec.specialIds.bos)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(spec.specialIds.eos)],
    ["tokenizer.ggml.eot_token_id", gguf.u32(spec.specialIds.eot)],
    ["tokenizer.ggml.eom_token_id", gguf.u32(spec.specialIds.eom)],
    ["tokenizer.ggml.padding_token_id", gguf.u32(spec.specialIds.pad)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
    ["tokenizer.ggml.add_eos_token", gguf.bool(false)],
    ["tokenizer.chat_template", gguf.str(spec.chatTemplate)],
  ];
}
