/**
 * Hugging Face `tokenizer.json` (byte-level BPE) → llama.cpp's GGUF tokenizer, the way the
 * converter's `_set_vocab_gpt2` + gguf-py `SpecialVocab` do it:
 *
 * 1. tokens by id (model vocab + added tokens), padded to the model's `vocab_size` with `[PADn]`
 *    entries of type UNUSED; added tokens that are special (or look like `<|…|>`) are CONTROL,
 *    other added tokens USER_DEFINED, the rest NORMAL;
 * 2. merges (`"a b"` strings, or `[a, b]` pairs joined with spaces inside encoded as U+0120);
 * 3. the pre-tokenizer name from the Split regex (o200k → `llama4`, Llama 3 → `llama-bpe`) — the
 *    converter hashes a probe tokenization instead, which needs the Python tokenizers library;
 * 4. special ids: bos/eos/unk/sep/pad from `tokenizer_config.json` token strings, then
 *    `config.json` `*_token_id`; eot/eom from the `<|eot|>`/`<|eom|>` (Llama 3: `<|eot_id|>`,
 *    `<|eom_id|>`) tokens; `add_bos_token` from tokenizer_config or the post-processor template;
 * 5. the chat template from `tokenizer_config.json`, `chat_template.jinja` or `chat_template.json`,
 *    else the caller's fallback (herd's Llama 4 template for Llama 4 checkpoints).
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gguf, type GgufValue } from "../model/gguf/gguf-writer.js";
import { TokenType } from "../model/llama4/tokenizer.js";
import type { CheckpointConfig, Json } from "./hf-config.js";

class TokenizerConvertError extends Error {
  override readonly name = "TokenizerConvertError";
}

/** Split regexes of known pre-tokenizers, as Hugging Face writes them, by llama.cpp pre name. */
const KNOWN_PRE_PATTERNS: ReadonlyArray<readonly [string, string]> = [
  [
    "llama4",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|" +
      "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
  [
    "llama-bpe",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  ],
];

/** tiktoken spells `(?i:'s|…)` out as `('s|'S|…)`; fold that back before comparing. */
function normalizePattern(p: string): string {
  return p.replace(
    /\('s\|'S\|'t\|'T\|'re\|'rE\|'Re\|'RE\|'ve\|'vE\|'Ve\|'VE\|'m\|'M\|'ll\|'lL\|'Ll\|'LL\|'d\|'D\)/g,
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
  );
}

export interface SpecialTokenIds {
  bos?: number;
  eos?: number;
  unk?: number;
  sep?: number;
  pad?: number;
  cls?: number;
  mask?: number;
  eot?: number;
  eom?: number;
}

export interface ConvertedTokenizer {
  readonly tokens: readonly string[];
  readonly tokenTypes: Int32Array;
  readonly merges: readonly string[];
  readonly pre: string;
  readonly specialIds: Readonly<SpecialTokenIds>;
  readonly addBos: boolean | undefined;
  readonly addEos: boolean | undefined;
  /** The default template, plus named ones (`tokenizer.chat_template.NAME`). */
  readonly chatTemplate: string | null;
  readonly namedChatTemplates: ReadonlyArray<readonly [string, string]>;
  /** Where the chat template came from. */
  readonly chatTemplateSource: "tokenizer_config.json" | "chat_template.jinja" | "chat_template.json" | "fallback" | "none";
  /** Every id that ends generation: eos, eot, eom and generation_config's `eos_token_id` list. */
  readonly stopTokenIds: readonly number[];
}

export interface TokenizerOptions {
  /** Embedding rows (`vocab_size`); the token list is padded to it. */
  readonly vocabSize: number;
  /** Override the detected pre-tokenizer. */
  readonly pre?: string;
  /** Chat template when the checkpoint has none. */
  readonly fallbackChatTemplate?: string;
}

async function readJsonIf(path: string): Promise<Json | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Json;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new TokenizerConvertError(`${path}: ${(err as Error).message}`);
  }
}

async function readTextIf(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
}

/** llama.cpp's `does_token_look_special`. */
function looksSpecial(t: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) ||
    (t.startsWith("<unused") && t.endsWith(">"))
  );
}

function detectPre(tok: Json): string {
  const patterns: string[] = [];
  const visit = (p: unknown) => {
    if (!p || typeof p !== "object") return;
    const o = p as Json;
    if (o.type === "Sequence" && Array.isArray(o.pretokenizers)) o.pretokenizers.forEach(visit);
    if (o.type === "Split" && o.pattern && typeof o.pattern === "object") {
      const re = (o.pattern as Json).Regex;
      if (typeof re === "string") patterns.push(re);
    }
  };
  visit(tok.pre_tokenizer);
  for (const p of patterns) {
    const n = normalizePattern(p);
    for (const [name, known] of KNOWN_PRE_PATTERNS) if (n === known) return name;
  }
  throw new TokenizerConvertError(
    `tokenizer.json: unknown pre-tokenizer ${patterns.length ? `regex ${JSON.stringify(patterns[0])}` : "(no Split regex)"}; ` +
      `known: ${KNOWN_PRE_PATTERNS.map(([n]) => n).join(", ")}. Pass --tokenizer-pre NAME (a llama.cpp pre-tokenizer name) to choose one.`,
  );
}

function mergesOf(model: Json): string[] {
  const m = model.merges;
  if (!Array.isArray(m)) return [];
  return m.map((x, i) => {
    if (typeof x === "string") return x;
    if (Array.isArray(x) && x.length === 2 && typeof x[0] === "string" && typeof x[1] === "string") {
      return x.map((part: string) => part.replace(/ /g, "\u0120")).join(" ");
    }
    throw new TokenizerConvertError(`tokenizer.json: merge ${i} has an unknown format`);
  });
}

function tokenContent(entry: unknown): string | null {
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object" && typeof (entry as Json).content === "string") return (entry as Json).content as string;
  return null;
}

/** Converts the tokenizer files of checkpoint folder `dir`. */
export async function convertHfTokenizer(dir: string, cfg: CheckpointConfig, opts: TokenizerOptions): Promise<ConvertedTokenizer> {
  const tok = await readJsonIf(join(dir, "tokenizer.json"));
  if (!tok) throw new TokenizerConvertError(`${dir} has no tokenizer.json (only fast byte-level BPE tokenizers are converted)`);
  const model = (tok.model ?? {}) as Json;
  if (model.type !== "BPE") throw new TokenizerConvertError(`tokenizer.json: model type ${String(model.type)}, expected BPE`);
  const vocab = (model.vocab ?? {}) as Record<string, number>;
  const added = (Array.isArray(tok.added_tokens) ? tok.added_tokens : []) as AddedToken[];

  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries(vocab)) byId.set(id, t);
  const addedById = new Map<number, AddedToken>();
  for (const a of added) {
    byId.set(a.id, a.content);
    addedById.set(a.id, a);
  }
  const maxId = Math.max(-1, ...byId.keys());
  if (maxId >= opts.vocabSize)
    throw new TokenizerConvertError(
      `tokenizer has token id ${maxId}, but the model has only ${opts.vocabSize} embedding rows (vocab_size)`,
    );

  const tokens: string[] = new Array<string>(opts.vocabSize);
  const tokenTypes = new Int32Array(opts.vocabSize);
  for (let i = 0; i < opts.vocabSize; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens[i] = `[PAD${i}]`;
      tokenTypes[i] = TokenType.UNUSED;
      continue;
    }
    const a = addedById.get(i);
    if (a) {
      if (a.special || looksSpecial(t)) {
        tokens[i] = t;
        tokenTypes[i] = TokenType.CONTROL;
      } else {
        tokens[i] = t.replace(/\u2581/g, " ");
        tokenTypes[i] = TokenType.USER_DEFINED;
      }
    } else {
      tokens[i] = t;
      tokenTypes[i] = TokenType.NORMAL;
    }
  }

  const tc = await readJsonIf(join(dir, "tokenizer_config.json"));
  const ids: SpecialTokenIds = {};
  const set = (typ: keyof SpecialTokenIds, id: unknown) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= opts.vocabSize) return;
    if (ids[typ] === undefined) ids[typ] = id;
  };
  const idOfContent = (content: string): number | undefined => added.find((a) => a.content === content)?.id;
  const types = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] as const;
  let addBos: boolean | undefined;
  let addEos: boolean | undefined;
  // 4a. The post-processor template (BOS prepended?).
  const post = tok.post_processor as Json | null | undefined;
  const processors = post ? ((Array.isArray(post.processors) ? post.processors : [post]) as Json[]) : [];
  const bosContent = tc ? tokenContent(tc.bos_token) : null;
  for (const p of processors) {
    if (p.type !== "TemplateProcessing" || !Array.isArray(p.single) || p.single.length < 2) continue;
    const first = ((p.single[0] as Json).SpecialToken as Json | undefined)?.id;
    if (typeof first === "string") addBos = bosContent === null || first === bosContent;
  }
  // 4b. tokenizer_config token strings, then config.json ids.
  if (tc) {
    for (const typ of types) {
      const add = tc[`add_${typ}_token`];
      if (typeof add === "boolean") {
        if (typ === "bos") addBos = add;
        if (typ === "eos") addEos = add;
      }
      const content = tokenContent(tc[`${typ}_token`]);
      if (content !== null) set(typ, idOfContent(content));
    }
  }
  const textCfg = (cfg.raw.text_config ?? {}) as Json;
  for (const typ of types) set(typ, cfg.raw[`${typ}_token_id`] ?? textCfg[`${typ}_token_id`]);
  // 4c. eot / eom by name, then generation_config.
  set("eot", idOfContent("<|eot|>") ?? idOfContent("<|eot_id|>"));
  set("eom", idOfContent("<|eom|>") ?? idOfContent("<|eom_id|>"));
  const gen = cfg.generation;
  if (ids.eos === undefined && gen) set("eos", gen.eosTokenIds[0]);
  if (ids.bos === undefined && gen) set("bos", gen.bosTokenId);

  // 5. Chat template.
  let chatTemplate: string | null = null;
  let named: Array<[string, string]> = [];
  let chatTemplateSource: ConvertedTokenizer["chatTemplateSource"] = "none";
  const jinja = await readTextIf(join(dir, "chat_template.jinja"));
  const ctJson = await readJsonIf(join(dir, "chat_template.json"));
  const fromTc = tc?.chat_template;
  const pick = (v: unknown): boolean => {
    if (typeof v === "string") {
      chatTemplate = v;
      return true;
    }
    if (Array.isArray(v)) {
      for (const e of v as Json[]) {
        if (typeof e?.name !== "string" || typeof e.template !== "string") continue;
        const name = e.name.replace(/[^A-Za-z0-9]/g, "_");
        if (name === "default") chatTemplate = e.template;
        else if (name) named.push([name, e.template]);
      }
      if (chatTemplate === null && named.length > 0) [, chatTemplate] = named.shift()!;
      return chatTemplate !== null;
    }
    return false;
  };
  if (pick(fromTc)) chatTemplateSource = "tokenizer_config.json";
  else if (jinja !== null && pick(jinja)) chatTemplateSource = "chat_template.jinja";
  else if (ctJson && pick(ctJson.chat_template)) chatTemplateSource = "chat_template.json";
  else if (opts.fallbackChatTemplate) {
    chatTemplate = opts.fallbackChatTemplate;
    named = [];
    chatTemplateSource = "fallback";
  }

  const stop = new Set<number>();
  for (const id of [ids.eos, ids.eot, ids.eom, ...(gen?.eosTokenIds ?? [])]) if (id !== undefined && id < opts.vocabSize) stop.add(id);

  return {
    tokens,
    tokenTypes,
    merges: mergesOf(model),
    pre: opts.pre ?? detectPre(tok),
    specialIds: ids,
    addBos,
    addEos,
    chatTemplate,
    namedChatTemplates: named,
    chatTemplateSource,
    stopTokenIds: [...stop].sort((a, b) => a - b),
  };
}

/** `tokenizer.*` GGUF metadata, in the order llama.cpp's converter writes it. */
export function tokenizerKvs(t: ConvertedTokenizer): Array<[string, GgufValue]> {
  const kv: Array<[string, GgufValue]> = [
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str(t.pre)],
    ["tokenizer.ggml.tokens", gguf.strArr(t.tokens)],
    ["tokenizer.ggml.token_type", gguf.i32Arr(t.tokenTypes)],
  ];
  if (t.merges.length > 0) kv.push(["tokenizer.ggml.merges", gguf.strArr(t.merges)]);
  // gguf-py has no key for cls (SpecialVocab skips it); "seperator" is llama.cpp's spelling.
  const keyOf: Record<Exclude<keyof SpecialTokenIds, "cls">, string> = {
    bos: "bos_token_id",
    eos: "eos_token_id",
    unk: "unknown_token_id",
    sep: "seperator_token_id",
    pad: "padding_token_id",
    mask: "mask_token_id",
    eot: "eot_token_id",
    eom: "eom_token_id",
  };
  for (const typ of ["bos", "eos", "unk", "sep", "pad", "mask", "eot", "eom"] as const) {
    const id = t.specialIds[typ];
    if (id !== undefined) kv.push([`tokenizer.ggml.${keyOf[typ]}`, gguf.u32(id)]);
  }
  if (t.addBos !== undefined) kv.push(["tokenizer.ggml.add_bos_token", gguf.bool(t.addBos)]);
  if (t.addEos !== undefined) kv.push(["tokenizer.ggml.add_eos_token", gguf.bool(t.addEos)]);
  if (t.chatTemplate !== null) kv.push(["tokenizer.chat_template", gguf.str(t.chatTemplate)]);
  for (const [name, tpl] of t.namedChatTemplates) kv.push([`tokenizer.chat_template.${name}`, gguf.str(tpl)]);
  if (t.namedChatTemplates.length > 0) kv.push(["tokenizer.chat_templates", gguf.strArr(t.namedChatTemplates.map(([n]) => n))]);
  return kv;
}
