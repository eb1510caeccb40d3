/**
 * What the routes need to know about the served model, fixed once the first engine has loaded it:
 * names, limits, the chat template and how prompts are tokenized.
 * @module
 */
import { NotFoundError } from "../common/errors.js";
import type { ServeConfig } from "../config/serve-config.js";
import type { EngineClient } from "../engine/client/engine-client.js";
import type { ModelInfo } from "../engine/types.js";
import { ChatTemplate } from "./chat-template.js";
import type { ServingLimits } from "./sampling.js";

export interface ModelContext {
  /** The names `model` may take; `[0]` is reported in responses. */
  readonly servedModelNames: readonly string[];
  readonly modelName: string;
  readonly info: ModelInfo;
  readonly limits: ServingLimits;
  readonly chatTemplate: ChatTemplate;
  /** Unix seconds the model was loaded (`created` in /v1/models). */
  readonly createdAt: number;
  /** The embedded model (or any file marked `herd.random_weights`): output is noise. */
  readonly randomWeights: boolean;
  /** The engine has a vision projector (mmproj): image input is possible. */
  readonly vision?: boolean;
}

function baseName(path: string): string {
  const file = path.split(/[\\/]/).pop() ?? path;
  return file.replace(/\.gguf$/i, "");
}

/** The name of the embedded random-weight model in the API. */
const EMBEDDED_MODEL_NAME = "herd-llama4-random";

/** The names clients may use: --served-model-name, else the model file's name without `.gguf`. */
export function servedModelNames(config: ServeConfig): string[] {
  if (config.servedModelNames.length > 0) return [...config.servedModelNames];
  return [config.model === null ? EMBEDDED_MODEL_NAME : baseName(config.model)];
}

/** The engine's effective context length (the client reports its finalized config when it has one). */
function effectiveMaxModelLen(client: EngineClient): number {
  const config = client.config;
  const fromConfig = config.maxModelLen;
  const kvCells = config.kvCacheTokens;
  const len = fromConfig > 0 ? fromConfig : client.modelInfo.contextTrainLength;
  return kvCells > 0 ? Math.min(len, kvCells) : len;
}

export async function createModelContext(
  client: EngineClient,
  config: ServeConfig,
  onTemplateFallback: (reason: string) => void,
): Promise<ModelContext> {
  const info = client.modelInfo;
  const special = async (id: number) => (id >= 0 ? client.detokenize([id], { special: true }) : "");
  const [bosToken, eosToken] = await Promise.all([special(info.bosTokenId), special(info.eosTokenId)]);
  const names = servedModelNames(config);
  return {
    servedModelNames: names,
    modelName: names[0] as string,
    info,
    limits: {
      vocabSize: info.vocabSize,
      maxModelLen: effectiveMaxModelLen(client),
      maxLogprobs: config.maxLogprobs,
      maxN: config.maxN,
      maxStopStrings: config.maxStopStrings,
    },
    chatTemplate: ChatTemplate.create({ modelTemplate: info.chatTemplate, bosToken, eosToken, onFallback: onTemplateFallback }),
    createdAt: Math.floor(Date.now() / 1000),
    randomWeights: info.metadata["herd.random_weights"] === "true",
    // The projector actually loaded (an optional one may have been skipped with a warning).
    vision: client.modelInfo.vision !== undefined,
  };
}

/** Checks the request's `model` (absent = the served model). Throws 404 naming the served models. */
export function checkModelName(ctx: ModelContext, requested: string | null | undefined): void {
  if (requested === null || requested === undefined) return;
  if (ctx.servedModelNames.includes(requested)) return;
  throw new NotFoundError(
    `The model '${requested.slice(0, 200)}' does not exist. This server serves: ${ctx.servedModelNames.map((n) => `'${n}'`).join(", ")}.`,
    { param: "model", code: "model_not_found" },
  );
}
