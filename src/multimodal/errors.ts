/**
 * Why an image could not be used. The server turns it into a 400 naming the content part
 * (`messages[i].content[j]`); `code` becomes OpenAI's `error.code`.
 * @module
 */

export type MediaErrorCode =
  | "invalid_image_url"
  | "image_url_not_allowed"
  | "image_fetch_failed"
  | "image_fetch_timeout"
  | "image_too_large"
  | "invalid_image";

export class MediaError extends Error {
  override readonly name = "MediaError";
  constructor(
    message: string,
    readonly code: MediaErrorCode,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
  }
}
