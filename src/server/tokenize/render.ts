/**
 * vLLM's render endpoints: the prompt a request would run, as token ids, without running it. llm-d's
 * precise-prefix scorer calls them (its vLLM HTTP renderer) to cut a request into the same token blocks
 * the server's KV-cache events report:
 *
 * - `POST /v1/completions/render` takes a completions request and answers one `{model, token_ids}` per prompt;
 * - `POST /v1/chat/completions/render` takes a chat request and answers one `{model, token_ids, features}`,
 *   `features` null for text, else the images' content hashes and placeholder spans (vLLM's `mm_hashes`,
 *   `mm_placeholders`), the hashes herd keys image blocks by.
 *
 * Both tokenize exactly as /v1/completions and /v1/chat/completions do.
 * @module
 */
import type { TokenId } from "../../engine/types.js";
import { ChatCompletionRequestSchema } from "../../protocol/chat.js";
import { CompletionRequestSchema } from "../../protocol/completions.js";
import { readJsonObject } from "../body.js";
import { checkMessageCount, renderChatRequest, tokenizeRenderedPrompt } from "../chat-completions/prompt.js";
import { splitPrompts, tokenizePrompts } from "../completions/handler.js";
import type { Exchange, ServerContext } from "../context.js";
import { checkModelName } from "../model-context.js";
import { parseRequest } from "../validation.js";

export interface RenderResponse {
  model: string;
  token_ids: TokenId[];
  features: {
    mm_hashes: { image: string[] };
    mm_placeholders: { image: Array<{ offset: number; length: number }> };
  } | null;
}

export async function handleCompletionsRender(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const r = parseRequest(CompletionRequestSchema, await readJsonObject(ex, ctx.config.maxRequestBodyBytes));
  const model = ctx.model();
  checkModelName(model, r.model);
  const lease = ctx.host.acquire();
  try {
    const ids = await tokenizePrompts(model, lease.client, splitPrompts(r.prompt), r.add_special_tokens ?? true);
    return Response.json(ids.map((tokenIds): RenderResponse => ({ model: model.modelName, token_ids: tokenIds, features: null })));
  } finally {
    lease.release();
  }
}

export async function handleChatRender(ctx: ServerContext, ex: Exchange): Promise<Response> {
  const body = await readJsonObject(ex, ctx.config.maxRequestBodyBytes);
  if (ctx.hasModel) checkMessageCount(body, ctx.model().limits.maxModelLen);
  const r = parseRequest(ChatCompletionRequestSchema, body);
  const model = ctx.model();
  checkModelName(model, r.model);
  const prompt = await renderChatRequest(model, r, ctx.config.limitMmPerPrompt);
  const lease = ctx.host.acquire();
  try {
    const { promptTokenIds, images } = await tokenizeRenderedPrompt(model, lease.client, ctx.config, prompt, ex.req.signal);
    const placeholder = model.info.vision?.placeholderTokenId;
    const features =
      images && images.length > 0 && placeholder !== undefined
        ? { mm_hashes: { image: images.map((img) => img.hash) }, mm_placeholders: { image: placeholderRuns(promptTokenIds, placeholder) } }
        : null;
    const res: RenderResponse = { model: model.modelName, token_ids: promptTokenIds, features };
    return Response.json(res);
  } finally {
    lease.release();
  }
}

/** The runs of `placeholder` in `ids`, as vLLM's `{offset, length}` spans. */
export function placeholderRuns(ids: readonly TokenId[], placeholder: TokenId): Array<{ offset: number; length: number }> {
  const runs: Array<{ offset: number; length: number }> = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== placeholder) continue;
    const offset = i;
    while (i + 1 < ids.length && ids[i + 1] === placeholder) i++;
    runs.push({ offset, length: i - offset + 1 });
  }
  return runs;
}
