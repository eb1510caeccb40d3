/**
 * Engine logprobs → OpenAI's two shapes:
 *  - chat: `{content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}`
 *  - completions: `{tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`
 * A token that is half a UTF-8 character decodes with U+FFFD; `bytes` stays exact. `-Infinity` is
 * sent as -9999 (as vLLM does): JSON has no infinities.
 * @module
 */
import type { GeneratedTokenLogprobs, TokenLogprob } from "../engine/types.js";
import type { ChatCompletionLogprobs, ChatCompletionTopLogprob, CompletionLogprobs } from "../protocol/responses.js";

const decoder = new TextDecoder("utf-8", { fatal: false });

function tokenText(lp: TokenLogprob): string {
  return decoder.decode(Uint8Array.from(lp.bytes));
}

function finiteLogprob(x: number): number {
  return Number.isFinite(x) ? x : -9999;
}

function chatToken(lp: TokenLogprob): ChatCompletionTopLogprob {
  return { token: tokenText(lp), logprob: finiteLogprob(lp.logprob), bytes: lp.bytes };
}

/** `topLogprobs`: how many alternatives the client asked for (`top_logprobs`). */
export function toChatLogprobs(list: readonly GeneratedTokenLogprobs[], topLogprobs: number): ChatCompletionLogprobs {
  return {
    content: list.map((lp) => ({ ...chatToken(lp), top_logprobs: lp.top.slice(0, topLogprobs).map(chatToken) })),
  };
}

/** Accumulates completions logprobs; text offsets count UTF-16 units from the start of the choice's text. */
export class CompletionLogprobsBuilder {
  #offset: number;

  constructor(startOffset = 0) {
    this.#offset = startOffset;
  }

  /** The logprobs object for `list` (the next tokens of the choice). */
  add(list: readonly GeneratedTokenLogprobs[]): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const lp of list) {
      const text = tokenText(lp);
      out.tokens.push(text);
      out.token_logprobs.push(finiteLogprob(lp.logprob));
      const top: Record<string, number> = {};
      for (const alt of lp.top) {
        const t = tokenText(alt);
        if (!(t in top)) top[t] = finiteLogprob(alt.logprob);
      }
      out.top_logprobs.push(top);
      out.text_offset.push(this.#offset);
      this.#offset += text.length;
    }
    return out;
  }
}

/** Concatenates completions logprobs objects (non-streaming responses). */
export function concatCompletionLogprobs(parts: readonly CompletionLogprobs[]): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const p of parts) {
    out.tokens.push(...p.tokens);
    out.token_logprobs.push(...p.token_logprobs);
    out.top_logprobs.push(...p.top_logprobs);
    out.text_offset.push(...p.text_offset);
  }
  return out;
}
