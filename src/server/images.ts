/**
 * Image input for /v1/chat/completions (and /tokenize): OpenAI `image_url` content parts →
 * Llama 4 tiles for the engine and the expanded prompt tokens.
 *
 * 1. Collect the image parts in prompt order; more than `--limit-mm-per-prompt` is a 400 naming the
 *    first part over the limit; a model without a vision projector refuses them with a 400.
 * 2. The chat template renders each image part as a per-request sentinel (never text a user could
 *    type), so placeholders are found exactly even if the user's text contains `<|image|>`.
 * 3. Fetch, decode and tile the images (`src/multimodal/`); failures are 400s naming the part.
 * 4. Tokenize the text between sentinels (special tokens parsed: the same ids as tokenizing the
 *    whole text, since special tokens split it anyway) and splice in each image's expansion
 *    (`<|image_start|>` … `<|patch|>`×144 per tile … `<|image_end|>`). The marker ids are read from
 *    the model's vocabulary by their text.
 * @module
 */
import { randomBytes } from "node:crypto";
import { InvalidRequestError } from "../common/errors.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { EngineClient } from "../engine/client/engine-client.js";
import type { ImageInput, TokenId } from "../engine/types.js";
import { AddressPolicy } from "../multimodal/address-policy.js";
import { describeUrl } from "../multimodal/fetch.js";
import { expandImageTokens, patchesPerTileFromMetadata, resolveImageTokens, type Llama4ImageTokens } from "../multimodal/llama4-prompt.js";
import { ImageLoadError, loadImages, type ImageLoadOptions } from "../multimodal/load.js";
import type { WireChatMessage } from "../protocol/chat.js";
import type { ModelContext } from "./model-context.js";

/** One `image_url` part of the request. */
export interface ImagePartRef {
  /** `messages[i].content[j]`. */
  param: string;
  url: string;
}

/** The image parts of `messages`, in prompt order. */
export function collectImageParts(messages: readonly WireChatMessage[]): ImagePartRef[] {
  const out: ImagePartRef[] = [];
  messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part, j) => {
      if (part.type === "image_url") out.push({ param: `messages[${i}].content[${j}]`, url: part.image_url.url });
    });
  });
  return out;
}

/** Throws the 400 for too many images or a model that cannot see. */
export function checkImageParts(refs: readonly ImagePartRef[], model: ModelContext, limit: number): void {
  const first = refs[0];
  if (!first) return;
  if (limit === 0) {
    throw new InvalidRequestError(
      `'${first.param}' is an image; image input is turned off on this server (--limit-mm-per-prompt image=0).`,
      {
        param: first.param,
        code: "unsupported_content",
      },
    );
  }
  if (!model.vision) {
    throw new InvalidRequestError(
      `'${first.param}' is an image, but the model '${model.modelName}' was loaded without a vision projector (mmproj), ` +
        `so it accepts text only.`,
      {
        param: first.param,
        code: "unsupported_content",
      },
    );
  }
  const over = refs[limit];
  if (over) {
    throw new InvalidRequestError(
      `'${over.param}' is image number ${limit + 1}; at most ${limit} image(s) are accepted per request ` +
        `(--limit-mm-per-prompt image=${limit}).`,
      {
        param: over.param,
        code: "too_many_images",
      },
    );
  }
}

/** A placeholder the template renders in place of each image part. */
export function newImageSentinel(): string {
  return `<|herd-image-${randomBytes(12).toString("hex")}|>`;
}

const optionsCache = new WeakMap<ServeConfig, ImageLoadOptions>();

/** Fetch/decode limits from the serve config (built once per config). */
function imageLoadOptions(config: ServeConfig): ImageLoadOptions {
  let opts = optionsCache.get(config);
  if (!opts) {
    opts = {
      fetch: {
        timeoutMs: config.mediaFetchTimeoutMs,
        maxBytes: config.maxImageBytes,
        maxRedirects: config.mediaMaxRedirects,
        allowedDomains: config.allowedMediaDomains,
        addresses: new AddressPolicy(config.allowedMediaNetworks),
        allowedLocalPath: config.allowedLocalMediaPath,
      },
      decode: { maxPixels: config.maxImagePixels },
    };
    optionsCache.set(config, opts);
  }
  return opts;
}

const tokensCache = new WeakMap<ModelContext, Promise<Llama4ImageTokens | null>>();

/** The vocabulary's image marker ids (looked up once per loaded model). */
function imageTokens(model: ModelContext, client: EngineClient): Promise<Llama4ImageTokens | null> {
  let p = tokensCache.get(model);
  if (!p) {
    p = resolveImageTokens((text) => client.tokenize(text, { addSpecial: false, parseSpecial: true }));
    p.catch(() => tokensCache.delete(model));
    tokensCache.set(model, p);
  }
  return p;
}

export interface PromptWithImages {
  promptTokenIds: TokenId[];
  images: ImageInput[];
}

/**
 * Loads `refs`' images and tokenizes `text` (rendered with `sentinel` at each image), splicing each
 * image's tokens in. Throws InvalidRequestError naming the offending part.
 */
export async function tokenizeWithImages(
  model: ModelContext,
  client: EngineClient,
  config: ServeConfig,
  text: string,
  sentinel: string,
  refs: readonly ImagePartRef[],
  signal?: AbortSignal,
): Promise<PromptWithImages> {
  const segments = text.split(sentinel);
  if (segments.length !== refs.length + 1) {
    throw new InvalidRequestError(
      `The chat template kept ${segments.length - 1} of the request's ${refs.length} image(s); ` +
        `this model's template cannot place images in these messages.`,
      { param: "messages", code: "invalid_chat" },
    );
  }
  const tokens = await imageTokens(model, client);
  if (!tokens) {
    const first = refs[0] as ImagePartRef;
    throw new InvalidRequestError(
      `'${first.param}' is an image, but the model's vocabulary lacks Llama 4's image tokens (<|image_start|>, <|patch|>, …).`,
      {
        param: first.param,
        code: "unsupported_content",
      },
    );
  }
  let loaded: Awaited<ReturnType<typeof loadImages>>;
  try {
    loaded = await loadImages(
      refs.map((r) => r.url),
      imageLoadOptions(config),
      signal,
    );
  } catch (err) {
    if (err instanceof ImageLoadError) {
      const ref = refs[err.index] as ImagePartRef;
      throw new InvalidRequestError(`'${ref.param}' (${describeUrl(ref.url)}): ${err.error.message}`, {
        param: ref.param,
        code: err.error.code,
        cause: err,
      });
    }
    throw err;
  }
  const pieces = await Promise.all(
    segments.map((s) =>
      s === "" ? Promise.resolve([]) : client.tokenize(s, { addSpecial: false, parseSpecial: true, maxTokens: model.limits.maxModelLen }),
    ),
  );
  const patchesPerTile = model.info.vision?.embeddingsPerTile ?? patchesPerTileFromMetadata(model.info.metadata);
  const ids: TokenId[] = [];
  pieces.forEach((piece, i) => {
    for (const t of piece) ids.push(t); // not push(...piece): a long prompt overflows the argument stack
    const img = loaded[i];
    if (img) for (const t of expandImageTokens(img.plan.canvas, tokens, patchesPerTile)) ids.push(t);
  });
  const bos = model.info.bosTokenId;
  if (model.info.addBos && bos >= 0 && ids[0] !== bos) ids.unshift(bos);
  return { promptTokenIds: ids, images: loaded.map((l) => l.input) };
}
