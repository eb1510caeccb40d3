/**
 * `POST /tokenize` and `POST /detokenize` in vLLM's shape. `/tokenize` takes either `prompt` (tokenized
 * as /v1/completions does) or `messages` with chat's other prompt fields (tools, tool_choice,
 * parallel_tool_calls, …: rendered and tokenized by the same functions as /v1/chat/completions), so
 * its `count` equals the `prompt_tokens` those endpoints report.
 * @module
 */
import { InvalidRequestError } from "../../common/errors.js";
import { readJsonObject } from "../body.js";
import { checkMessageCount, renderChatRequest, tokenizeRenderedPrompt } from "../chat-completions/prompt.js";
import type { Exchange, ServerContext } from "../context.js";
import { checkModelName } from "../model-context.js";
import { DetokenizeRequestSchema, type DetokenizeResponse, TokenizeRequestSchema, type TokenizeResponse } from "../../protocol/tokenize.js";
import { parseRequest } from "../validation.js";

export async function handleTokenize(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const req = ex.req;
  const body = await readJsonObject(ex, ctx.config.maxRequestBodyBytes);
  if (ctx.hasModel) checkMessageCount(body, ctx.model().limits.maxModelLen);
  const r = parseRequest(TokenizeRequestSchema, body);
  const model = ctx.model();
  checkModelName(model, r.model);
  const hasPrompt = r.prompt !== null && r.prompt !== undefined;
  const hasMessages = r.messages !== null && r.messages !== undefined;
  if (hasPrompt === hasMessages) {
    throw new InvalidRequestError("Give exactly one of 'prompt' or 'messages'.", {
      param: hasPrompt ? "messages" : "prompt",
      code: "invalid_parameter",
    });
  }
  const lease = ctx.host.acquire();
  try {
    let tokens: number[];
    if (r.messages) {
      const prompt = await renderChatRequest(model, { ...r, messages: r.messages }, ctx.config.limitMmPerPrompt);
      tokens = (await tokenizeRenderedPrompt(model, lease.client, ctx.config, prompt, req.signal)).promptTokenIds;
    } else {
      tokens = await lease.client.tokenize(r.prompt ?? "", { addSpecial: r.add_special_tokens ?? true, parseSpecial: true });
    }
    let tokenStrs: string[] | null = null;
    if (r.return_token_strs) {
      tokenStrs = await Promise.all(tokens.map((t) => lease.client.detokenize([t], { special: true })));
    }
    const res: TokenizeResponse = { count: tokens.length, max_model_len: model.limits.maxModelLen, tokens, token_strs: tokenStrs };
    return Response.json(res);
  } finally {
    lease.release();
  }
}

export async function handleDetokenize(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const r = parseRequest(DetokenizeRequestSchema, await readJsonObject(ex, ctx.config.maxRequestBodyBytes));
  const model = ctx.model();
  checkModelName(model, r.model);
  const vocab = model.info.vocabSize;
  const bad = r.tokens.findIndex((t) => t < 0 || t >= vocab);
  if (bad >= 0) {
    throw new InvalidRequestError(`'tokens[${bad}]' is ${r.tokens[bad]}, outside the vocabulary (0..${vocab - 1}).`, {
      param: `tokens[${bad}]`,
      code: "invalid_parameter",
    });
  }
  const lease = ctx.host.acquire();
  try {
    const res: DetokenizeResponse = { prompt: await lease.client.detokenize(r.tokens) };
    return Response.json(res);
  } finally {
    lease.release();
  }
}
