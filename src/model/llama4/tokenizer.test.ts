import { describe, expect, it } from "vitest";
import { Template } from "@huggingface/jinja";
import {
  buildLlama4Tokenizer,
  byteLevelEncode,
  byteToUnicode,
  LLAMA4_CHAT_TEMPLATE,
  LLAMA4_TOKEN_IDS,
  LLAMA4_VOCAB_SIZE,
  llama4SpecialTokens,
  mergesFromRanks,
  parseTiktokenRanks,
  TokenType,
} from "./tokenizer.js";

describe("Llama 4 special tokens", () => {
  const specials = llama4SpecialTokens();
  const at = (id: number) => specials[id - 200000];

  it("has 2048 unique names at their real ids", () => {
    expect(specials).toHaveLength(2048);
    expect(new Set(specials).size).toBe(2048);
    expect(at(200000)).toBe("<|begin_of_text|>");
    expect(at(200001)).toBe("<|end_of_text|>");
    expect(at(200005)).toBe("<|header_start|>");
    expect(at(200006)).toBe("<|header_end|>");
    expect(at(200007)).toBe("<|eom|>");
    expect(at(200008)).toBe("<|eot|>");
    expect(at(200010)).toBe("<|text_post_train_reserved_special_token_0|>");
    expect(at(200016)).toBe("<|python_start|>");
    expect(at(200017)).toBe("<|python_end|>");
    expect(at(200018)).toBe("<|finetune_right_pad|>");
    expect(at(200019)).toBe("<|text_post_train_reserved_special_token_8|>");
    expect(at(200079)).toBe("<|text_post_train_reserved_special_token_68|>");
    expect(at(200080)).toBe("<|image_start|>");
    expect(at(200081)).toBe("<|image_end|>");
    expect(at(200084)).toBe("<|tile_x_separator|>");
    expect(at(200085)).toBe("<|tile_y_separator|>");
    expect(at(200090)).toBe("<|image|>");
    expect(at(200092)).toBe("<|patch|>");
    expect(at(201133)).toBe("<|vision_reserved_special_token_1047|>");
    expect(at(201142)).toBe("<|reasoning_thinking_start|>");
    expect(at(201143)).toBe("<|reasoning_thinking_end|>");
    expect(at(201144)).toBe("<|reserved_special_token_0|>");
    expect(at(202047)).toBe("<|reserved_special_token_903|>");
    for (const [name, id] of Object.entries(LLAMA4_TOKEN_IDS)) expect(at(id), name).toMatch(/^<\|.*\|>$/);
  });
});

describe("byte-level BPE helpers", () => {
  it("maps bytes like GPT-2", () => {
    const t = byteToUnicode();
    expect(t[0x20]).toBe("Ġ");
    expect(t[0x0a]).toBe("Ċ");
    expect(t[0x41]).toBe("A");
    expect(new Set(t).size).toBe(256);
    expect(byteLevelEncode(Buffer.from(" hé", "utf8").toString("latin1"))).toBe("ĠhÃ©");
  });

  it("derives merges from ranks (both tiktoken text formats)", () => {
    const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
    const ranksText = ["a", "b", "c", "ab", "abc", "bc", "cab"].map((s, i) => `${b64(s)} ${i}`).join("\n");
    const ranks = parseTiktokenRanks(ranksText);
    expect(ranks).toEqual(["a", "b", "c", "ab", "abc", "bc", "cab"]);
    expect(parseTiktokenRanks(`! 0 ${b64("a")} ${b64("b")}\n! 5 ${b64("ab")}`)[5]).toBe("ab");
    // "abc" = ab + c (ab ranks before bc); "cab" = c + ab.
    expect(mergesFromRanks(ranks)).toEqual(["a b", "ab c", "b c", "c ab"]);
  });
});

describe("buildLlama4Tokenizer", () => {
  const tok = buildLlama4Tokenizer();

  it("lays out 202048 tokens: o200k regular tokens, 2 unused fillers, control specials", () => {
    expect(tok.tokens).toHaveLength(LLAMA4_VOCAB_SIZE);
    expect(tok.tokenTypes).toHaveLength(LLAMA4_VOCAB_SIZE);
    expect(tok.tokens[0]).toBe("!");
    expect(tok.tokens[13225]).toBe("Hello"); // o200k "Hello"
    expect(tok.tokens[199998]).toBe("[PAD199998]");
    expect(tok.tokenTypes[199998]).toBe(TokenType.UNUSED);
    expect(tok.tokens[200008]).toBe("<|eot|>");
    expect(tok.tokenTypes[200008]).toBe(TokenType.CONTROL);
    expect(tok.tokenTypes[1000]).toBe(TokenType.NORMAL);
    expect(tok.tokenTypes.subarray(200000).every((t) => t === TokenType.CONTROL)).toBe(true);
    expect(tok.merges.length).toBeGreaterThan(199_000);
    expect(tok.merges[0]).toBe("Ġ Ġ");
    expect(tok.merges.every((m) => m.split(" ").length === 2)).toBe(true);
    expect(tok.specialIds).toEqual({ bos: 200000, eos: 200008, eot: 200008, eom: 200007, pad: 200018 });
  });
});

describe("LLAMA4_CHAT_TEMPLATE", () => {
  const render = (messages: unknown[], add_generation_prompt = true) =>
    new Template(LLAMA4_CHAT_TEMPLATE).render({ messages, add_generation_prompt });

  it("renders the Llama 4 layout with an open assistant header", () => {
    expect(
      render([
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ]),
    ).toBe(
      "<|begin_of_text|><|header_start|>system<|header_end|>\n\nBe brief.<|eot|>" +
        "<|header_start|>user<|header_end|>\n\nHi<|eot|><|header_start|>assistant<|header_end|>\n\n",
    );
    expect(render([{ role: "user", content: "Hi" }], false)).toBe("<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|>");
  });

  it("maps tool → ipython and renders content parts with images as <|image|>", () => {
    const out = render([
      {
        role: "user",
        content: [{ type: "image_url", image_url: { url: "x" } }, { type: "text", text: "What is this?" }, { type: "image" }],
      },
      { role: "assistant", content: "A cat." },
      { role: "tool", content: '{"ok":true}' },
    ]);
    expect(out).toBe(
      "<|begin_of_text|><|header_start|>user<|header_end|>\n\n<|image|>What is this?<|image|><|eot|>" +
        "<|header_start|>assistant<|header_end|>\n\nA cat.<|eot|>" +
        '<|header_start|>ipython<|header_end|>\n\n{"ok":true}<|eot|>' +
        "<|header_start|>assistant<|header_end|>\n\n",
    );
  });
});
