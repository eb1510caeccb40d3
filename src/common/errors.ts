/**
 * Domain errors. HTTP status codes never appear outside `server/`; `server/errors.ts` maps `kind` to a
 * status and the OpenAI error shape.
 * @module
 */

export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "not_found"
  | "too_large"
  | "capacity"
  | "unavailable"
  | "engine_dead"
  | "internal";

export abstract class ServeError extends Error {
  abstract readonly kind: ErrorKind;
  /** Machine-readable code (OpenAI's `error.code`). */
  readonly code: string | null;
  /** The offending request parameter, when there is one (OpenAI's `error.param`). */
  readonly param: string | null;
  constructor(message: string, opts: { code?: string | null; param?: string | null; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code ?? null;
    this.param = opts.param ?? null;
  }
}

/** The request is wrong; retrying it unchanged will fail again. */
export class InvalidRequestError extends ServeError {
  override readonly name = "InvalidRequestError";
  readonly kind = "invalid_request" as const;
}

/** The prompt (plus the requested output) can never fit this server's context. */
export class ContextLengthExceededError extends InvalidRequestError {
  /**
   * `opts.atLeast`: the count is a lower bound found without tokenizing, and why (e.g. from the text's length).
   * `opts.message`: the message, already written (the error crossed the engine boundary).
   */
  constructor(
    readonly numPromptTokens: number,
    readonly maxModelLen: number,
    detail = "",
    opts: { atLeast?: string; message?: string } = {},
  ) {
    super(
      opts.message ??
        (opts.atLeast === undefined
          ? `This model's maximum context length is ${maxModelLen} tokens, ` +
            `but the request has ${numPromptTokens} prompt tokens${detail}. Shorten the prompt or lower max_tokens.`
          : `This model's maximum context length is ${maxModelLen} tokens, ` +
            `but the request has at least ${numPromptTokens} prompt tokens (${opts.atLeast}), ` +
            `so it was refused before tokenizing${detail}. Shorten the prompt.`),
      { code: "context_length_exceeded", param: "messages" },
    );
  }
}

export class AuthenticationError extends ServeError {
  override readonly name = "AuthenticationError";
  readonly kind = "authentication" as const;
}

export class NotFoundError extends ServeError {
  override readonly name = "NotFoundError";
  readonly kind = "not_found" as const;
}

export class PayloadTooLargeError extends ServeError {
  override readonly name = "PayloadTooLargeError";
  readonly kind = "too_large" as const;
}

/** How long a `CapacityError` asks clients to wait, unless it says otherwise. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

/** The engine is full (queue bound reached): retry later. */
export class CapacityError extends ServeError {
  override readonly name = "CapacityError";
  readonly kind = "capacity" as const;
  constructor(
    message: string,
    readonly retryAfterMs = DEFAULT_RETRY_AFTER_MS,
  ) {
    super(message, { code: "queue_full" });
  }
}

/** Not ready, or draining: retry later or elsewhere. */
export class UnavailableError extends ServeError {
  override readonly name = "UnavailableError";
  readonly kind = "unavailable" as const;
}

/** The engine process died (e.g. a llama.cpp abort). Unrecoverable for the requests in flight. */
export class EngineDeadError extends ServeError {
  override readonly name = "EngineDeadError";
  readonly kind = "engine_dead" as const;
  constructor(message = "The inference engine stopped unexpectedly; the request was not completed.", cause?: unknown) {
    super(message, { code: "engine_dead", cause });
  }
}

export class InternalError extends ServeError {
  override readonly name = "InternalError";
  readonly kind = "internal" as const;
}

/**
 * An unexpected error (a bug, a native failure) as a `ServeError`. Its message may hold internals, so
 * users get a generic one; the error stays the cause, for logs.
 */
export function unexpectedError(cause: unknown): InternalError {
  return new InternalError("Internal server error; the request was not completed.", { cause });
}

export function isServeError(e: unknown): e is ServeError {
  return e instanceof ServeError;
}
