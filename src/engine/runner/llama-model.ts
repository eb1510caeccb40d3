/**
 * Loading a GGUF into llama.cpp: the model, its vocabulary and the facts the server needs.
 * @module
 */
import { existsSync } from "node:fs";
import { checkAbi } from "../../native/abi-check.js";
import { getBindings, type Bindings, type ModelPtr, type VocabPtr } from "../../native/bindings.js";
import type { DeviceKind } from "../../native/library.js";
import type { LoadMode, ModelInfo, TokenId } from "../types.js";

/** Llama 4's stop ids (end_of_text, eom, eot): llama.cpp's name heuristics miss `<|eom|>`/`<|eot|>`. */
const LLAMA4_STOP_IDS = [200001, 200007, 200008];

export interface LoadedModel {
  b: Bindings;
  model: ModelPtr;
  vocab: VocabPtr;
  info: ModelInfo;
}

/** llama.cpp's `enum llama_load_mode`. */
const LLAMA_LOAD_MODE: Record<LoadMode, number> = { auto: -1, none: 0, mmap: 1, mlock: 2, "mmap+mlock": 3, dio: 4 };

/**
 * herd's "auto": on the CPU device the weights are read into the engine's own memory ("none"), which
 * the engine process backs with transparent huge pages (process-client.ts); decode streams every
 * weight each step, and served from a memory-mapped file through 4 KiB pages it ran slower and with a
 * longer tail here (docs/performance.md). On a GPU the weights live in device memory: llama.cpp's own
 * "auto" (mmap). Any other mode is passed through.
 */
export function resolveLoadMode(mode: LoadMode, device: DeviceKind): LoadMode {
  return mode === "auto" && device === "cpu" ? "none" : mode;
}

export function loadModel(path: string, device: DeviceKind, nGpuLayers: number, loadMode: LoadMode = "auto"): LoadedModel {
  if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
  const b = getBindings(device);
  checkAbi(b);
  const params = b.modelDefaultParams();
  params.n_gpu_layers = device === "cpu" ? 0 : nGpuLayers < 0 ? 999 : nGpuLayers;
  params.load_mode = LLAMA_LOAD_MODE[resolveLoadMode(loadMode, device)];
  const model = b.modelLoadFromFile(path, params);
  if (!model) throw new Error(`llama.cpp could not load ${path} (not a GGUF it supports, or corrupt); see the log above`);
  const vocab = b.modelGetVocab(model);
  return { b, model, vocab, info: readModelInfo(b, model, vocab, path) };
}

function metaString(b: Bindings, model: ModelPtr, key: string): string | null {
  const buf = new Uint8Array(4096);
  const n = b.modelMetaValStr(model, key, buf, buf.length);
  if (n < 0) return null;
  return Buffer.from(buf.subarray(0, Math.min(n, buf.length - 1))).toString("utf8");
}

function readModelInfo(b: Bindings, model: ModelPtr, vocab: VocabPtr, path: string): ModelInfo {
  const descBuf = new Uint8Array(256);
  const descLen = b.modelDesc(model, descBuf, descBuf.length);
  const vocabSize = b.vocabNTokens(vocab);
  const eog = new Set<TokenId>();
  for (let t = 0; t < vocabSize; t++) if (b.vocabIsEog(vocab, t)) eog.add(t);
  const architecture = metaString(b, model, "general.architecture") ?? "unknown";
  if (architecture === "llama4") for (const t of LLAMA4_STOP_IDS) if (t < vocabSize) eog.add(t);
  const metadata: Record<string, string> = {};
  for (const key of ["general.name", "general.architecture", "general.file_type", "herd.random_weights", "tokenizer.ggml.pre"]) {
    const v = metaString(b, model, key);
    if (v !== null) metadata[key] = v;
  }
  return {
    path,
    description: Buffer.from(descBuf.subarray(0, Math.max(0, descLen))).toString("utf8"),
    architecture,
    numParams: Number(b.modelNParams(model)),
    sizeBytes: Number(b.modelSize(model)),
    vocabSize,
    contextTrainLength: b.modelNCtxTrain(model),
    slidingWindow: b.modelNSwa(model),
    bosTokenId: b.vocabBos(vocab),
    eosTokenId: b.vocabEos(vocab),
    eogTokenIds: [...eog].sort((x, y) => x - y),
    addBos: b.vocabGetAddBos(vocab),
    chatTemplate: b.modelChatTemplate(model, null),
    metadata,
  };
}
