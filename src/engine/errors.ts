/**
 * The engine's one error seam: how herd's errors (common/errors.ts) cross the engine boundary — the
 * child process's IPC channel, and `RequestOutput.error` in either transport — as plain data, and back.
 * `toEngineError` is the only serializer and `fromEngineError` the only deserializer; both switch
 * over every `EngineErrorKind`, so a new kind does not compile until both handle it.
 * @module
 */
import {
  AuthenticationError,
  CapacityError,
  ContextLengthExceededError,
  DEFAULT_RETRY_AFTER_MS,
  EngineDeadError,
  type ErrorKind,
  InternalError,
  InvalidRequestError,
  isServeError,
  NotFoundError,
  PayloadTooLargeError,
  type ServeError,
  UnavailableError,
  unexpectedError,
} from "../common/errors.js";

/**
 * What went wrong, on the wire: herd's error kinds, plus `context_length_exceeded` so that a
 * `ContextLengthExceededError` keeps its class and counts.
 */
export type EngineErrorKind = ErrorKind | "context_length_exceeded";

interface EngineErrorBase {
  message: string;
  param: string | null;
  code: string | null;
  /** The cause's message, for logs: e.g. the detail an internal error does not show users. */
  cause?: string;
}

/** A herd error as plain, structured-cloneable data. */
export type EngineError =
  | (EngineErrorBase & { kind: "context_length_exceeded"; numPromptTokens: number; maxModelLen: number })
  | (EngineErrorBase & { kind: "capacity"; retryAfterMs: number })
  | (EngineErrorBase & { kind: Exclude<EngineErrorKind, "context_length_exceeded" | "capacity"> });

/** Any thrown value as an `EngineError`; one that is not a herd error becomes an internal error that hides its message. */
export function toEngineError(err: unknown): EngineError {
  const e = isServeError(err) ? err : unexpectedError(err);
  const base: EngineErrorBase = { message: e.message, param: e.param, code: e.code };
  if (e.cause !== undefined) base.cause = e.cause instanceof Error ? e.cause.message : String(e.cause);
  const kind = e.kind;
  switch (kind) {
    case "invalid_request":
      return e instanceof ContextLengthExceededError
        ? { ...base, kind: "context_length_exceeded", numPromptTokens: e.numPromptTokens, maxModelLen: e.maxModelLen }
        : { ...base, kind };
    case "capacity":
      return { ...base, kind, retryAfterMs: e instanceof CapacityError ? e.retryAfterMs : DEFAULT_RETRY_AFTER_MS };
    case "authentication":
    case "not_found":
    case "too_large":
    case "unavailable":
    case "engine_dead":
    case "internal":
      return { ...base, kind };
    default:
      kind satisfies never;
      return { ...base, kind: "internal" };
  }
}

/** The herd error an `EngineError` stands for. A kind this build does not know becomes an internal error. */
export function fromEngineError(e: EngineError): ServeError {
  const cause = e.cause === undefined ? undefined : new Error(e.cause);
  const opts = { param: e.param, code: e.code, cause };
  switch (e.kind) {
    case "invalid_request":
      return new InvalidRequestError(e.message, opts);
    case "context_length_exceeded":
      return new ContextLengthExceededError(e.numPromptTokens, e.maxModelLen, "", { message: e.message });
    case "authentication":
      return new AuthenticationError(e.message, opts);
    case "not_found":
      return new NotFoundError(e.message, opts);
    case "too_large":
      return new PayloadTooLargeError(e.message, opts);
    case "capacity":
      return new CapacityError(e.message, e.retryAfterMs);
    case "unavailable":
      return new UnavailableError(e.message, opts);
    case "engine_dead":
      return new EngineDeadError(e.message, cause);
    case "internal":
      return new InternalError(e.message, opts);
    default: {
      e satisfies never;
      const unknown = e as { kind: unknown; message: unknown };
      return unexpectedError(new Error(`unknown engine error kind ${JSON.stringify(unknown.kind)}: ${String(unknown.message)}`));
    }
  }
}
