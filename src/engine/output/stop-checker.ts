/**
 * Stop strings over streamed text. Text arrives in arbitrary pieces (one detokenized token at a time); a
 * stop string may be split over any number of them.
 *
 * Model: an Aho–Corasick automaton over the stop strings (UTF-16 code units). Its state after the text so
 * far is the longest suffix of that text that is a prefix of some stop string; exactly that suffix is held
 * back (it may still become a stop string), everything before it is safe to emit. Each character is
 * examined once, so a push costs O(its length) whatever the number and length of the stop strings.
 *
 * Which stop wins: the one that is complete earliest in the text; of those completing at the same
 * character, the longest (it starts first). This is what a character-by-character stream would see, so the
 * result does not depend on how the text was split. The stop string and everything after it are dropped.
 * @module
 */

export interface StopCheckResult {
  /** Text safe to show: never part of a stop string, never text that might still become one. */
  emit: string;
  /** True once a stop string has been seen (this push or earlier). */
  stopped: boolean;
  /** The stop string that matched, when stopped. */
  stopString?: string;
}

/** A trie node of the automaton (struct-of-arrays: children maps, failure links, depths, outputs). */
class Automaton {
  readonly children: Array<Map<number, number>> = [new Map()];
  readonly fail: number[] = [0];
  readonly depth: number[] = [0];
  /** Index of the longest stop string that is a suffix of this node's text, or -1. */
  readonly match: number[] = [-1];

  constructor(readonly patterns: readonly string[]) {
    patterns.forEach((p, index) => this.insert(p, index));
    this.link();
  }

  /** The state after reading code unit `c` in `state`. */
  next(state: number, c: number): number {
    for (;;) {
      const child = this.children[state]!.get(c);
      if (child !== undefined) return child;
      if (state === 0) return 0;
      state = this.fail[state]!;
    }
  }

  private insert(pattern: string, index: number): void {
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern.charCodeAt(i);
      let child = this.children[node]!.get(c);
      if (child === undefined) {
        child = this.children.length;
        this.children.push(new Map());
        this.fail.push(0);
        this.depth.push(this.depth[node]! + 1);
        this.match.push(-1);
        this.children[node]!.set(c, child);
      }
      node = child;
    }
    const current = this.match[node]!;
    if (current === -1) this.match[node] = index;
  }

  /** Breadth-first failure links; a node's match falls back to its failure node's (a shorter suffix). */
  private link(): void {
    const queue: number[] = [...this.children[0]!.values()];
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [c, child] of this.children[node]!) {
        this.fail[child] = node === 0 ? 0 : this.next(this.fail[node]!, c);
        if (this.match[child] === -1) this.match[child] = this.match[this.fail[child]!]!;
        queue.push(child);
      }
    }
  }
}

export class StopChecker {
  private readonly automaton: Automaton | null;
  private state = 0;
  /** The text of `state`: received, not emitted, possibly the start of a stop string. */
  private held = "";
  private stopString: string | undefined;

  /** @param stopStrings non-empty strings (validated by `validateSamplingParams`); duplicates are harmless */
  constructor(stopStrings: readonly string[]) {
    const patterns = stopStrings.filter((s) => s.length > 0);
    this.automaton = patterns.length > 0 ? new Automaton(patterns) : null;
  }

  /** True once a stop string has been seen. */
  get isStopped(): boolean {
    return this.stopString !== undefined;
  }

  /** Feeds newly generated text. After a stop, every push returns "" and stopped: true. */
  push(text: string): StopCheckResult {
    if (this.stopString !== undefined) return { emit: "", stopped: true, stopString: this.stopString };
    const automaton = this.automaton;
    if (automaton === null) return { emit: text, stopped: false };
    let state = this.state;
    for (let i = 0; i < text.length; i++) {
      state = automaton.next(state, text.charCodeAt(i));
      const index = automaton.match[state]!;
      if (index !== -1) {
        const stop = automaton.patterns[index]!;
        const buffered = this.held + text.slice(0, i + 1);
        this.stopString = stop;
        this.held = "";
        this.state = 0;
        return { emit: buffered.slice(0, buffered.length - stop.length), stopped: true, stopString: stop };
      }
    }
    const keep = automaton.depth[state]!;
    const buffered = this.held + text;
    this.state = state;
    this.held = buffered.slice(buffered.length - keep);
    return { emit: buffered.slice(0, buffered.length - keep), stopped: false };
  }

  /** Generation ended for another reason: returns the held-back text ("" after a stop). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    this.state = 0;
    return rest;
  }
}
