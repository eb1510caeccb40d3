/**
 * A lazily loaded value whose loading is a generator (yielding between slices of work), shared by
 * every caller: whoever asks advances the one load a step, so concurrent first requests do the
 * work once between them instead of once each (seven hostile prompts arriving together loaded the
 * tokenizer tables seven times over). A synchronous caller simply drives it to the end.
 * @module
 */
export class SharedLoad<T> {
  #gen: Generator<undefined, T> | null = null;
  #state: { done: false } | { done: true; value: T } | { done: true; error: unknown } = { done: false };

  constructor(private readonly make: () => Generator<undefined, T>) {}

  *get(): Generator<undefined, T> {
    for (;;) {
      const s = this.#state;
      if (s.done) {
        if ("error" in s) throw s.error;
        return s.value;
      }
      this.#gen ??= this.make();
      try {
        const r = this.#gen.next();
        if (r.done) this.#state = { done: true, value: r.value };
      } catch (error) {
        this.#state = { done: true, error };
      }
      if (!this.#state.done) yield;
    }
  }
}
