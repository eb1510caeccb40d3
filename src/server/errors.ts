/**
 * The one mapper from domain errors to HTTP: status, headers and OpenAI's error body
 * `{error:{message,type,param,code}}`. Status codes appear nowhere else in the server.
 *
 * | kind            | status | x-should-retry | extra headers                 |
 * |-----------------|--------|----------------|-------------------------------|
 * | invalid_request | 400    | false          |                               |
 * | authentication  | 401    | false          | www-authenticate: Bearer      |
 * | not_found       | 404    | false          |                               |
 * | too_large       | 413    | false          |                               |
 * | capacity        | 429    | true           | retry-after-ms, retry-after   |
 * | unavailable     | 503    | true           | retry-after                   |
 * | engine_dead     | 500    | true           | retry-after                   |
 * | internal        | 500    | false          |                               |
 *
 * openai-node obeys `x-should-retry` before anything else, so it is always set.
 * @module
 */
import { CapacityError, DEFAULT_RETRY_AFTER_MS, isServeError, unexpectedError, type ErrorKind, type ServeError } from "../common/errors.js";

/** OpenAI's error object and body, as src/protocol/ defines them. */
import type { ErrorBody, ErrorObject as ErrorInfo } from "../protocol/responses.js";
export type { ErrorBody, ErrorInfo };

export interface ErrorResponse {
  status: 400 | 401 | 404 | 413 | 429 | 500 | 503;
  headers: Record<string, string>;
  body: ErrorBody;
}

interface KindMapping {
  status: ErrorResponse["status"];
  type: string;
  retry: boolean;
}

const KINDS: Record<ErrorKind, KindMapping> = {
  invalid_request: { status: 400, type: "invalid_request_error", retry: false },
  authentication: { status: 401, type: "authentication_error", retry: false },
  not_found: { status: 404, type: "not_found_error", retry: false },
  too_large: { status: 413, type: "invalid_request_error", retry: false },
  capacity: { status: 429, type: "rate_limit_error", retry: true },
  unavailable: { status: 503, type: "service_unavailable_error", retry: true },
  engine_dead: { status: 500, type: "server_error", retry: true },
  internal: { status: 500, type: "server_error", retry: false },
};

/** Seconds a client should wait before retrying a 503 / engine_dead. */
const UNAVAILABLE_RETRY_AFTER_S = 1;

/** Anything thrown → a ServeError (unknown errors become InternalError without leaking their message). */
export function toServeError(err: unknown): ServeError {
  return isServeError(err) ? err : unexpectedError(err);
}

/** Maps any error to the status, headers and body the server sends. */
export function toErrorResponse(err: unknown): ErrorResponse {
  const e = toServeError(err);
  const m = KINDS[e.kind];
  const headers: Record<string, string> = { "x-should-retry": String(m.retry) };
  switch (e.kind) {
    case "capacity": {
      const ms = e instanceof CapacityError ? e.retryAfterMs : DEFAULT_RETRY_AFTER_MS;
      headers["retry-after-ms"] = String(ms);
      headers["retry-after"] = String(Math.max(1, Math.ceil(ms / 1000)));
      break;
    }
    case "unavailable":
    case "engine_dead":
      headers["retry-after"] = String(UNAVAILABLE_RETRY_AFTER_S);
      break;
    case "authentication":
      headers["www-authenticate"] = "Bearer";
      break;
    case "invalid_request":
    case "not_found":
    case "too_large":
    case "internal":
      break;
    default:
      e.kind satisfies never;
  }
  return { status: m.status, headers, body: { error: errorInfo(e, m.type) } };
}

function errorInfo(e: ServeError, type: string): ErrorInfo {
  return { message: e.message, type, param: e.param, code: e.code ?? defaultCode(e.kind) };
}

function defaultCode(kind: ErrorKind): string | null {
  switch (kind) {
    case "authentication":
      return "invalid_api_key";
    case "too_large":
      return "request_too_large";
    case "unavailable":
      return "unavailable";
    case "internal":
      return "internal_error";
    default:
      return null;
  }
}

/** The `Response` for an error (JSON body, mapped status and headers). */
export function errorResponse(err: unknown, extraHeaders: Record<string, string> = {}): Response {
  const r = toErrorResponse(err);
  return new Response(JSON.stringify(r.body), {
    status: r.status,
    headers: { "content-type": "application/json", ...r.headers, ...extraHeaders },
  });
}
