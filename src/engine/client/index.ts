/**
 * Picks the engine transport, like vLLM's `EngineCoreClient.make_client()`: a child process by
 * default (a llama.cpp abort cannot take the server down), in-process for tests and tools.
 * @module
 */
import type { EngineConfig } from "../types.js";
import type { EngineClient } from "./engine-client.js";
import { InProcessClient } from "./in-process-client.js";
import { ProcessClient, type EngineLog } from "./process-client.js";

export type { EngineClient } from "./engine-client.js";

export async function createEngineClient(config: EngineConfig, opts: { inProcess?: boolean; log?: EngineLog } = {}): Promise<EngineClient> {
  return opts.inProcess ? InProcessClient.create(config, opts.log) : ProcessClient.create(config, opts.log);
}
