/**
 * The HTTP application: middleware (request id + access log, CORS, auth) and one thin line per route.
 * Every error, thrown anywhere, goes through the one mapper in `errors.ts`.
 *
 * Test it without sockets: `createApp(ctx).request("/v1/models")`.
 * @module
 */
import { randomUUID } from "node:crypto";
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { NotFoundError } from "../common/errors.js";
import { bearerAuth } from "./auth.js";
import { handleChatCompletion } from "./chat-completions/handler.js";
import { handleCompletion } from "./completions/handler.js";
import type { Exchange, RequestVars, ServerContext } from "./context.js";
import { errorResponse, toErrorResponse, toServeError } from "./errors.js";
import { nodeBindings } from "./node-http.js";
import { handleHealth, handleListModels, handleMetrics, handleReady, handleVersion } from "./ops.js";
import { handleDetokenize, handleTokenize } from "./tokenize/handler.js";
import { handleChatRender, handleCompletionsRender } from "./tokenize/render.js";
import { mountChatPage } from "./web.js";

export type App = Hono<{ Variables: RequestVars }>;

/** Accepts a client's x-request-id when it is short and printable; otherwise makes one. */
function requestIdFrom(header: string | undefined): string {
  if (header && header.length <= 128 && /^[\x21-\x7e]+$/.test(header)) return header;
  return randomUUID();
}

/** Probes and scrapes are not logged per request (they would drown everything else). */
const QUIET_PATHS = new Set(["/health", "/ready", "/metrics"]);

export function createApp(ctx: ServerContext): App {
  const app: App = new Hono<{ Variables: RequestVars }>();

  app.use(async (c, next) => {
    const requestId = requestIdFrom(c.req.header("x-request-id"));
    const log = ctx.log.child({ requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    const t0 = performance.now();
    // Under node:http the header goes on Node's response (merged into whatever head is written):
    // setting it on a finished web Response makes Hono copy that response, body and all.
    const node = nodeBindings(c.env);
    c.set("node", node);
    node?.outgoing.setHeader("x-request-id", requestId);
    await next();
    if (!node) c.header("x-request-id", requestId);
    if (!ctx.config.disableLogRequests && !QUIET_PATHS.has(c.req.path)) {
      log.info(
        { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round((performance.now() - t0) * 10) / 10 },
        "request",
      );
    }
  });

  if (ctx.config.allowedOrigins.length > 0) {
    const origins = [...ctx.config.allowedOrigins];
    app.use(
      cors({
        origin: origins.includes("*") ? "*" : origins,
        allowHeaders: ["Authorization", "Content-Type", "X-Request-Id"],
        exposeHeaders: ["X-Request-Id"],
      }),
    );
  }
  mountChatPage(app); // before auth: the page asks for the key itself
  if (ctx.config.apiKey !== null) app.use(bearerAuth(ctx.config.apiKey));

  const exchange = (c: Context<{ Variables: RequestVars }>): Exchange => ({ req: c.req.raw, log: c.get("log"), node: c.get("node") });
  app.post("/v1/chat/completions", (c) => handleChatCompletion(ctx, exchange(c)));
  app.post("/v1/completions", (c) => handleCompletion(ctx, exchange(c)));
  app.get("/v1/models", () => handleListModels(ctx));
  app.post("/tokenize", (c) => handleTokenize(ctx, exchange(c)));
  app.post("/detokenize", (c) => handleDetokenize(ctx, exchange(c)));
  app.post("/v1/completions/render", (c) => handleCompletionsRender(ctx, exchange(c)));
  app.post("/v1/chat/completions/render", (c) => handleChatRender(ctx, exchange(c)));
  app.get("/version", () => handleVersion());
  app.get("/health", () => handleHealth(ctx));
  app.get("/ready", () => handleReady(ctx));
  app.get("/metrics", () => handleMetrics(ctx));

  app.notFound((c) => errorResponse(new NotFoundError(`No route for ${c.req.method} ${c.req.path}.`, { code: "route_not_found" })));
  app.onError((err, c) => {
    const e = toServeError(err);
    const status = toErrorResponse(e).status;
    const log = c.get("log") ?? ctx.log;
    if (status >= 500) log.error({ err: e.cause ?? e, kind: e.kind }, e.message);
    else log.debug({ kind: e.kind, param: e.param }, e.message);
    return errorResponse(e);
  });
  return app;
}
