/**
 * Operational routes: `/health` (liveness), `/ready` (readiness), `/version`, `/metrics`, and the
 * model listing `/v1/models`.
 * @module
 */
import { HERD_VERSION } from "../common/version.js";
import type { Model, ModelList } from "../protocol/responses.js";
import type { ServerContext } from "./context.js";
import { servedModelNames } from "./model-context.js";

/** Liveness: 200 unless herd gave up restarting its engine. */
export function handleHealth(ctx: ServerContext): Response {
  const live = ctx.host.isLive();
  return Response.json({ status: live ? "ok" : "failed", engine: ctx.host.state }, { status: live ? 200 : 503 });
}

/** Readiness: 200 once the model is loaded and has produced a token; 503 while loading, dead or draining. */
export function handleReady(ctx: ServerContext): Response {
  const ready = ctx.host.isReady() && ctx.hasModel;
  return Response.json(
    { status: ready ? "ready" : "not_ready", engine: ctx.host.state },
    { status: ready ? 200 : 503, headers: ready ? {} : { "retry-after": "1" } },
  );
}

export function handleVersion(): Response {
  return Response.json({ version: HERD_VERSION });
}

function modelCard(ctx: ServerContext, id: string): Model {
  const m = ctx.hasModel ? ctx.model() : null;
  return {
    id,
    object: "model",
    created: m?.createdAt ?? Math.floor(Date.now() / 1000),
    owned_by: "herd",
    root: m?.info.path ?? ctx.config.model ?? id,
    parent: null,
    max_model_len: m?.limits.maxModelLen ?? null,
    permission: [],
  };
}

export function handleListModels(ctx: ServerContext): Response {
  const list: ModelList = { object: "list", data: servedModelNames(ctx.config).map((id) => modelCard(ctx, id)) };
  return Response.json(list);
}

/** Timeout of the engine stats call behind a scrape: a busy engine must not hang Prometheus. */
const STATS_TIMEOUT_MS = 2000;

export async function handleMetrics(ctx: ServerContext): Promise<Response> {
  const client = ctx.host.currentClient;
  let stats = null;
  if (client?.isAlive()) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STATS_TIMEOUT_MS)));
    stats = await Promise.race([client.stats().catch(() => null), timeout]);
    clearTimeout(timer);
  }
  ctx.metrics.setEngineState(stats, ctx.host.isReady());
  return new Response(await ctx.metrics.render(), { headers: { "content-type": ctx.metrics.contentType } });
}
