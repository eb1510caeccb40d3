/**
 * The node:http fast path under Hono. `@hono/node-server` hands every route a web `Request` and
 * copies every web `Response` back into Node's response; for the two hot paths that copy costs more
 * than the work itself (a request body read through a web stream builds a full undici `Request`;
 * an SSE stream crosses a web `ReadableStream` and the adapter's reader loop for every token). Here:
 * - request bodies are read straight from Node's `IncomingMessage` (see `body.ts`);
 * - an SSE route returns a placeholder `Response` and leaves a writer behind (`deferStream`); once
 *   the app — middleware included — has produced its final response, `nodeFetch` starts the writer
 *   with the final status and headers and tells the adapter the response is already being sent.
 * Under `app.request()` (tests without sockets) there are no Node bindings and everything stays web.
 * @module
 */
import { IncomingMessage, ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";

/** Node's own request and response for one exchange (`c.env` under @hono/node-server). */
export interface NodeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
}

/** A response body that writes itself to Node's response once the final headers are known. */
export interface DeferredStream {
  /** Writes the head (`status`, `headers`) and then the body. */
  start(outgoing: ServerResponse, status: number, headers: Record<string, string>): void;
  /** The app replaced the placeholder (e.g. an error after the handler): release what the stream holds. */
  cancel(reason: Error): void;
}

const ENABLED = Symbol("herd.nodeFetch");
const PENDING = Symbol("herd.deferredStream");

interface Env extends Partial<NodeBindings> {
  [ENABLED]?: true;
  [PENDING]?: DeferredStream;
}

/** The Node bindings of an HTTP/1 request served through `nodeFetch`; null otherwise (tests, other adapters). */
export function nodeBindings(env: unknown): NodeBindings | null {
  const e = env as Env | undefined;
  return e?.[ENABLED] && e.incoming instanceof IncomingMessage && e.outgoing instanceof ServerResponse ? (e as NodeBindings) : null;
}

/**
 * Registers `stream` as the body of this exchange and returns the placeholder response to return
 * from the route (status 200 with `headers`); middleware may still add headers to it.
 */
export function deferStream(node: NodeBindings, headers: Record<string, string>, stream: DeferredStream): Response {
  (node as Env)[PENDING] = stream;
  return new Response(null, { status: 200, headers });
}

// biome-ignore lint/suspicious/noExplicitAny: the adapter's and Hono's env types differ; both are objects
type Fetch = (req: Request, env: any) => Response | Promise<Response>;

/** Wraps `app.fetch` for `@hono/node-server`'s `serve()`: enables the fast path and starts deferred streams. */
export function nodeFetch(fetch: Fetch): Fetch {
  const finish = (res: Response, env: Env): Response => {
    const stream = env[PENDING];
    if (!stream) return res;
    env[PENDING] = undefined;
    const outgoing = env.outgoing;
    if (!(outgoing instanceof ServerResponse) || res.status !== 200 || outgoing.headersSent) {
      stream.cancel(new Error(`the stream's response was replaced (status ${res.status})`));
      return res;
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      headers[key] = value;
    });
    stream.start(outgoing, res.status, headers);
    return RESPONSE_ALREADY_SENT;
  };
  return (req, env: Env) => {
    env[ENABLED] = true;
    const res = fetch(req, env);
    return res instanceof Promise ? res.then((r) => finish(r, env)) : finish(res, env);
  };
}
