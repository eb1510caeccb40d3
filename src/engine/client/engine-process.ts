/**
 * Entry point of the engine child process: loads the model, runs the engine loop, and answers the
 * parent's messages. If llama.cpp aborts, only this process dies; the parent notices the exit.
 * @module
 */
import { readFileSync } from "node:fs";
import { InvalidRequestError, isServeError } from "../../common/errors.js";
import { getEnv } from "../../config/env.js";
import { getBindings } from "../../native/bindings.js";
import { installLlamaLog, type GgmlLogLevel } from "../../native/log.js";
import { EngineCore } from "../core/engine-core.js";
import { toEngineError } from "../errors.js";
import { createKvEventPublisher, type KvEventPublisher } from "../kv/kv-event-publisher.js";
import { resolveLoadMode } from "../runner/llama-model.js";
import { LlamaRunner } from "../runner/llama-runner.js";
import { EngineLoop } from "./engine-loop.js";
import type { EngineInit, FromEngine, ToEngine } from "./protocol.js";

function send(msg: FromEngine): void {
  process.send?.(msg);
}

const MiB = 2 ** 20;

/**
 * One line on where the loaded model sits: the load mode, this process's resident memory and how much
 * of it is on transparent huge pages (Linux's /proc; the line says less elsewhere).
 */
function memoryLine(runner: LlamaRunner): string {
  const mode = resolveLoadMode(runner.config.loadMode, runner.config.device);
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return null;
    }
  };
  const smaps = read("/proc/self/smaps_rollup");
  if (smaps === null) return `weights: load mode ${mode}`;
  const bytes = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(smaps)?.[1] ?? 0) * 1024;
  const thp = /\[(\w+)\]/.exec(read("/sys/kernel/mm/transparent_hugepage/enabled") ?? "")?.[1] ?? "unknown";
  return (
    `weights: load mode ${mode}; ${(bytes("Rss") / MiB).toFixed(0)} MiB resident, ` +
    `${(bytes("AnonHugePages") / MiB).toFixed(0)} MiB on transparent huge pages (THP ${thp})`
  );
}

/** A vocabulary call's failure is the caller's invalid input (as in `ProcessClient`, which tokenizes locally). */
function inputError(err: unknown): unknown {
  return isServeError(err) ? err : new InvalidRequestError(err instanceof Error ? err.message : String(err));
}

function handle(core: EngineCore, loop: EngineLoop, runner: LlamaRunner, publisher: KvEventPublisher | null, msg: ToEngine): void {
  switch (msg.type) {
    case "add":
      try {
        core.addRequest(msg.request);
        loop.notify();
      } catch (err) {
        send({ type: "rejected", requestId: msg.request.requestId, error: toEngineError(err) });
      }
      return;
    case "abort":
      core.abortRequest(msg.requestId);
      loop.notify();
      return;
    case "tokenize":
      // Async: a long text gives the step loop a turn every few milliseconds.
      runner.tokenizeAsync(msg.text, { addSpecial: msg.addSpecial, parseSpecial: msg.parseSpecial, maxTokens: msg.maxTokens }).then(
        (result) => send({ type: "reply", callId: msg.callId, result }),
        (err: unknown) => send({ type: "reply", callId: msg.callId, error: toEngineError(inputError(err)) }),
      );
      return;
    case "detokenize":
    case "stats":
      try {
        const result = msg.type === "detokenize" ? runner.detokenize(msg.tokenIds, msg.special) : core.stats();
        send({ type: "reply", callId: msg.callId, result });
      } catch (err) {
        send({ type: "reply", callId: msg.callId, error: toEngineError(msg.type === "detokenize" ? inputError(err) : err) });
      }
      return;
    case "shutdown":
      void loop
        .stop()
        .then(() => publisher?.close())
        .then(() => {
          runner.close();
          process.exit(0);
        });
      return;
    case "crash-for-test":
      if (getEnv("HERD_ENABLE_TEST_HOOKS")) runner.crashForTest();
      return;
    default:
      msg satisfies never;
  }
}

async function start(init: EngineInit): Promise<void> {
  const b = getBindings(init.config.device);
  installLlamaLog(b, (level, message) => send({ type: "log", level, message }), init.llamaLogLevel as GgmlLogLevel);
  let runner: LlamaRunner;
  try {
    runner = await LlamaRunner.create(init.config, (message) => send({ type: "log", level: "warn", message }));
  } catch (err) {
    send({ type: "startup-error", message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const publisher = await createKvEventPublisher(runner.config, (err) =>
    send({ type: "log", level: "error", message: `KV-cache events: ${err.message}` }),
  );
  const core = new EngineCore(
    runner,
    (outputs) => send({ type: "outputs", outputs }),
    publisher && ((events) => publisher.publish(events)),
  );
  core.publishKvEvents();
  const loop = new EngineLoop(core, (err) => {
    send({ type: "log", level: "error", message: `engine loop failed: ${err.stack ?? err.message}` });
    process.exit(70);
  });
  process.on("message", (m: ToEngine) => handle(core, loop, runner, publisher, m));
  send({ type: "log", level: "info", message: memoryLine(runner) });
  send({ type: "ready", modelInfo: runner.modelInfo, config: runner.config });
}

process.once("message", (m: EngineInit) => {
  if (m.type !== "init") {
    send({ type: "startup-error", message: "the first message must be init" });
    process.exit(1);
  }
  start(m).catch((err: unknown) => {
    send({ type: "startup-error", message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
});
// Signals are for the server, which drains and then tells us to shut down (a terminal's Ctrl-C
// reaches the whole process group; the engine must not die before the server's drain ends).
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});
// The parent is gone: nobody can read our outputs.
process.on("disconnect", () => process.exit(0));
