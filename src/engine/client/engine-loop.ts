/**
 * Drives an `EngineCore`: steps while there is work, sleeps until a request or abort arrives.
 * @module
 */
import type { EngineCore } from "../core/engine-core.js";

export class EngineLoop {
  #wake: (() => void) | null = null;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(
    readonly core: EngineCore,
    onFatal: (err: Error) => void,
  ) {
    this.done = this.#run().catch((err: unknown) => onFatal(err instanceof Error ? err : new Error(String(err))));
  }

  /** Call after adding a request or an abort. */
  notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (!this.core.hasWork()) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      // Every step starts from the check phase (setImmediate), so an event-loop poll phase always
      // runs between two steps: requests and aborts that arrived while the previous (synchronous)
      // decode ran join this step. A step started straight from the wake-up (an IPC message, in the
      // poll phase) would be followed by a second one before the pipe is read again.
      await new Promise((r) => setImmediate(r));
      const didWork = await this.core.step();
      // Nothing could be scheduled (e.g. only siblings waiting): wait a little longer.
      if (!didWork) await new Promise((r) => setTimeout(r, 1));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.notify();
    await this.done;
  }
}
