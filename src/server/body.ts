/**
 * Reading request bodies: bounded size (413), strict UTF-8, a JSON object at the top.
 * Error messages never quote the body (it may hold a prompt).
 * @module
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { IncomingMessage } from "node:http";
import { InvalidRequestError, PayloadTooLargeError } from "../common/errors.js";
import type { Exchange } from "./context.js";

function tooLarge(maxBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body is larger than the server's limit of ${maxBytes} bytes (--max-request-body-bytes).`);
}

/** The body's bytes, refusing more than `maxBytes` without reading the rest. */
async function readBodyBytes(ex: Pick<Exchange, "req" | "node">, maxBytes: number): Promise<Uint8Array> {
  const declared = ex.node ? ex.node.incoming.headers["content-length"] : ex.req.headers.get("content-length");
  if (declared != null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (ex.node) return readNodeBody(ex.node.incoming, maxBytes);
  const req = ex.req;
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * The same from Node's request (no web stream, no undici `Request`). Past the limit it stops
 * collecting; the adapter drains or closes the rest when the response ends.
 */
function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (incoming.readableEnded) return onEnd();
      cleanup();
      reject(new InvalidRequestError("The request body ended early (the client closed the connection).", { code: "invalid_body" }));
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Parses the body as one JSON object. */
export async function readJsonObject(ex: Pick<Exchange, "req" | "node">, maxBytes: number): Promise<Record<string, unknown>> {
  const bytes = await readBodyBytes(ex, maxBytes);
  if (bytes.byteLength === 0) throw new InvalidRequestError("Request body is empty; expected a JSON object.", { code: "invalid_json" });
  // A large body is decoded, parsed and checked in separate turns of the event loop (tens of ms each
  // for 8 MB), so requests beside it, and /health, wait for one step at most.
  const big = bytes.byteLength > LARGE_BODY_BYTES;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new InvalidRequestError("Request body is not valid UTF-8.", { code: "invalid_encoding" });
  }
  if (big) await nextTurn();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const pos = err instanceof Error ? /position (\d+)/.exec(err.message)?.[1] : undefined;
    throw new InvalidRequestError(`Malformed JSON in request body${pos === undefined ? "" : ` (at byte offset ${pos})`}.`, {
      code: "invalid_json",
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidRequestError(
      `Request body must be a JSON object (got ${Array.isArray(value) ? "an array" : typeof value === "object" ? "null" : typeof value}).`,
      {
        code: "invalid_json",
      },
    );
  }
  if (big) await nextTurn();
  const depth = jsonDepth(value, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    throw new InvalidRequestError(
      `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep; at most ${MAX_JSON_DEPTH} are accepted.`,
      {
        code: "invalid_json",
      },
    );
  }
  return value as Record<string, unknown>;
}

const LARGE_BODY_BYTES = 1 << 20;

/**
 * Deepest nesting accepted in a request body. JSON.parse reads any depth, but what handles the value
 * afterwards recurses (JSON.stringify for cache keys, schema validation, the JSON-schema converter):
 * a schema nested 3,000 levels overflowed the stack, a 500 instead of a 400.
 */
const MAX_JSON_DEPTH = 128;

/** The nesting depth of a parsed JSON value, walked without recursion; stops counting past `limit`. */
function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (typeof child === "object" && child !== null) stack.push([child, d + 1]);
  }
  return max;
}
