/**
 * Tokens taken from the queue to top up a batch but not yet allowed (refreshed less than the
 * minimum interval ago): held here, keyed by the time they become eligible, and put back into the
 * queue then — with their own due time, which is never earlier. Without this they would be taken
 * and put back on every request slot until eligible (hundreds of queue operations per slot at
 * 600 requests/min).
 */
export interface HeldItem {
  id: number;
  priority: number;
  dueAt: number;
}

export class HeldTokens {
  private readonly at: number[] = [];
  private readonly items: HeldItem[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Earliest release time, or Infinity. */
  peek(): number {
    return this.at.length ? this.at[0]! : Infinity;
  }

  push(releaseAt: number, item: HeldItem): void {
    const at = this.at;
    const items = this.items;
    let i = at.length;
    at.push(releaseAt);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p]! <= releaseAt) break;
      at[i] = at[p]!;
      items[i] = items[p]!;
      i = p;
    }
    at[i] = releaseAt;
    items[i] = item;
  }

  /** Remove and return the item with the earliest release time. */
  pop(): HeldItem | undefined {
    const at = this.at;
    const items = this.items;
    if (!items.length) return undefined;
    const top = items[0]!;
    const lastAt = at.pop()!;
    const lastItem = items.pop()!;
    const n = items.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && at[c + 1]! < at[c]!) c++;
        if (at[c]! >= lastAt) break;
        at[i] = at[c]!;
        items[i] = items[c]!;
        i = c;
      }
      at[i] = lastAt;
      items[i] = lastItem;
    }
    return top;
  }
}
