/**
 * Bearer-token authentication. When an API key is configured, every route except the probes
 * (`/health`, `/ready`) and CORS preflights requires `Authorization: Bearer <key>`. Keys are compared
 * as SHA-256 digests with `timingSafeEqual`, so the comparison takes the same time whatever the
 * length or content of the candidate.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { AuthenticationError } from "../common/errors.js";

/** Routes that answer without a key (orchestrator probes). */
const UNAUTHENTICATED_PATHS: ReadonlySet<string> = new Set(["/health", "/ready"]);

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Constant-time check of an `Authorization` header value against the key's digest. */
function isAuthorized(header: string | undefined, keyDigest: Buffer): boolean {
  const m = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header.trim());
  // Always hash and compare, even without a header, so a missing key costs the same as a wrong one.
  const candidate = digest(m?.[1] ?? "");
  return timingSafeEqual(candidate, keyDigest) && m !== null;
}

export function bearerAuth(apiKey: string): MiddlewareHandler {
  const keyDigest = digest(apiKey);
  return async (c, next) => {
    if (c.req.method === "OPTIONS" || UNAUTHENTICATED_PATHS.has(c.req.path)) return next();
    if (!isAuthorized(c.req.header("authorization"), keyDigest)) {
      throw new AuthenticationError("Missing or invalid API key: send 'Authorization: Bearer <key>'.", { code: "invalid_api_key" });
    }
    return next();
  };
}
