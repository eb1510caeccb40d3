/**
 * An approximate, character-level radix tree of the request texts routed to one worker (SGLang's
 * cache_aware router keeps one per worker). It stands in for the worker's prefix cache: the longest
 * prefix of a new request found here estimates how much of it the worker still has cached.
 *
 * Bounded: when the tree holds more than `maxChars` characters, the least recently used leaves are
 * evicted (a worker's real cache forgets old prefixes too).
 * @module
 */

interface TreeNode {
  /** The characters on the edge from the parent to this node ("" for the root). */
  edge: string;
  readonly children: Map<string, TreeNode>;
  parent: TreeNode | null;
  /** A logical clock value: the last insert that walked through this node. */
  lastUsed: number;
}

function newNode(edge: string, parent: TreeNode | null, now: number): TreeNode {
  return { edge, children: new Map(), parent, lastUsed: now };
}

function commonPrefixLength(a: string, b: string, bStart: number): number {
  const n = Math.min(a.length, b.length - bStart);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(bStart + i)) i++;
  return i;
}

export class RadixTree {
  #root = newNode("", null, 0);
  #numChars = 0;
  #clock = 0;

  /** @param maxChars characters kept before LRU leaves are evicted (default 4 Mi). */
  constructor(readonly maxChars = 4 * 1024 * 1024) {}

  /** Characters stored (the sum of all edges): the router's "cache size" of the worker. */
  get numChars(): number {
    return this.#numChars;
  }

  /**
   * Length of the longest prefix of `text` in the tree. Read-only: only `insert` (a request the
   * worker serves) refreshes a path, as only serving refreshes the worker's real cache.
   */
  matchPrefixLength(text: string): number {
    let node = this.#root;
    let matched = 0;
    while (matched < text.length) {
      const child = node.children.get(text[matched]!);
      if (!child) break;
      const l = commonPrefixLength(child.edge, text, matched);
      matched += l;
      if (l < child.edge.length) break;
      node = child;
    }
    return matched;
  }

  /** Adds `text` (its path becomes the most recently used); past `maxChars`, evicts down to 90 % of it. */
  insert(text: string): void {
    const now = ++this.#clock;
    let node = this.#root;
    let i = 0;
    while (i < text.length) {
      const child = node.children.get(text[i]!);
      if (!child) {
        node.children.set(text[i]!, newNode(text.slice(i), node, now));
        this.#numChars += text.length - i;
        break;
      }
      const l = commonPrefixLength(child.edge, text, i);
      if (l < child.edge.length) {
        // Split the edge: node → mid (the common part) → child (the rest).
        const mid = newNode(child.edge.slice(0, l), node, now);
        child.edge = child.edge.slice(l);
        child.parent = mid;
        mid.children.set(child.edge[0]!, child);
        node.children.set(mid.edge[0]!, mid);
        node = mid;
      } else {
        child.lastUsed = now;
        node = child;
      }
      i += l;
    }
    // Down to 90 %: an eviction pass sorts every leaf, so it should not run on every insert.
    if (this.#numChars > this.maxChars) this.evict(Math.floor(this.maxChars * 0.9));
  }

  /** Removes least recently used leaves until at most `targetChars` remain. */
  evict(targetChars: number): void {
    while (this.#numChars > targetChars) {
      const leaves = this.#leaves().sort((a, b) => a.lastUsed - b.lastUsed);
      if (leaves.length === 0) return;
      for (const leaf of leaves) {
        if (this.#numChars <= targetChars) return;
        leaf.parent!.children.delete(leaf.edge[0]!);
        this.#numChars -= leaf.edge.length;
      }
    }
  }

  #leaves(): TreeNode[] {
    const out: TreeNode[] = [];
    const stack = [...this.#root.children.values()];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.children.size === 0) out.push(n);
      else stack.push(...n.children.values());
    }
    return out;
  }
}
