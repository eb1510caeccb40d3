/**
 * Messages between `ProcessClient` (parent) and `engine-process.ts` (child), sent over Node's IPC
 * channel. Plain data only.
 * @module
 */
import type { EngineError } from "../errors.js";
import type { EngineConfig, EngineRequest, EngineStats, ModelInfo, RequestOutput, TokenId } from "../types.js";

export type ToEngine =
  | { type: "add"; request: EngineRequest }
  | { type: "abort"; requestId: string }
  | { type: "tokenize"; callId: number; text: string; addSpecial: boolean; parseSpecial: boolean; maxTokens?: number }
  | { type: "detokenize"; callId: number; tokenIds: TokenId[]; special: boolean }
  | { type: "stats"; callId: number }
  | { type: "shutdown" }
  /** Only honoured with HERD_ENABLE_TEST_HOOKS=1: makes llama.cpp abort, as a real assert would. */
  | { type: "crash-for-test" };

export type FromEngine =
  | { type: "ready"; modelInfo: ModelInfo; config: EngineConfig }
  | { type: "startup-error"; message: string }
  | { type: "outputs"; outputs: RequestOutput[] }
  | { type: "rejected"; requestId: string; error: EngineError }
  | { type: "reply"; callId: number; result?: TokenId[] | string | EngineStats; error?: EngineError }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; message: string };

/** The child's first message (argv is too small for a config, and env is for secrets). */
export interface EngineInit {
  type: "init";
  config: EngineConfig;
  /** Lowest llama.cpp log level forwarded (3 = warn). */
  llamaLogLevel: number;
}
