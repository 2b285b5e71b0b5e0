/**
 * The decision of one lease round, as a pure function of what the heartbeat returned: which
 * partitions to take, which to shed (drain, then release) and whom to ask for one more.
 *
 * Rules (docs/cluster.md, "Leases"):
 *  - Fair share: target = ceil(64 / live instances). An instance below target takes available
 *    partitions (free or expired; expired first, because nobody serves them), never more than
 *    target. An instance only ever takes what is free or expired: it never takes a partition from
 *    a live owner (revoke before assign).
 *  - Shedding: an instance above target sheds its excess when the others' shortfall is larger
 *    than what is available, so a newcomer gets its share within two rounds (~7 s at the default
 *    10 s lease) instead of waiting for expiry. Shed partitions are drained first (in-flight
 *    batches finish), then released.
 *  - Stealing, at most one per round: an instance that found nothing available and is at least
 *    two partitions behind the most loaded owner marks one of that owner's partitions
 *    (wanted_by). The owner hands it over while it stays at least two ahead of the asker. This
 *    evens out what the ceil target leaves (e.g. 22/22/20 with three instances -> 22/21/21).
 *  - A released partition wanted by a live instance below target is left to that instance.
 */
import type { ClusterView, LeaseRow } from './lease-store.js';

export interface RoundPlan {
  /** Fair share: ceil(partitions / live instances). */
  target: number;
  /** Partitions to acquire now (available ones, wanted-by-me and expired first). */
  take: number[];
  /** Partitions to drain and release. */
  shed: number[];
  /** One partition of the most loaded owner to ask for, or null. */
  request: number | null;
}

const valid = (l: LeaseRow, now: number): boolean =>
  l.owner !== null && l.expiresAtMs !== null && l.expiresAtMs > now;

/**
 * @param draining partitions this instance is draining: counted neither as held nor as available,
 *   even once free (a release still pending would drop them again).
 */
export function planRound(
  view: ClusterView,
  me: string,
  draining: ReadonlySet<number> = new Set(),
): RoundPlan {
  const now = view.nowMs;
  const live = new Set(view.live);
  live.add(me);
  const total = view.leases.length;
  const target = Math.ceil(total / live.size);

  const held = new Map<string, number>();
  for (const id of live) held.set(id, 0);
  for (const l of view.leases) {
    if (!valid(l, now) || (l.owner === me && draining.has(l.partition))) continue;
    held.set(l.owner!, (held.get(l.owner!) ?? 0) + 1);
  }
  const mine = view.leases.filter((l) => valid(l, now) && l.owner === me && !draining.has(l.partition));
  const countOf = (id: string): number => held.get(id) ?? 0;
  const wanterTakesIt = (w: string | null): boolean =>
    w !== null && w !== me && live.has(w) && countOf(w) < target;

  const available = view.leases
    .filter((l) => !valid(l, now) && !draining.has(l.partition) && !wanterTakesIt(l.wantedBy))
    .sort(
      (a, b) =>
        Number(b.wantedBy === me) - Number(a.wantedBy === me) ||
        Number(b.owner !== null) - Number(a.owner !== null) ||
        a.partition - b.partition,
    );

  // Shed: the excess above target, as far as the others cannot fill their shortfall from what is
  // available. Partitions someone asked for go first, then the highest numbers.
  const shed: number[] = [];
  if (mine.length > target) {
    let shortfall = 0;
    for (const id of live) if (id !== me) shortfall += Math.max(0, target - countOf(id));
    const n = Math.min(mine.length - target, Math.max(0, shortfall - available.length));
    const order = [...mine].sort(
      (a, b) => Number(b.wantedBy !== null) - Number(a.wantedBy !== null) || b.partition - a.partition,
    );
    for (const l of order.slice(0, n)) shed.push(l.partition);
  }
  // Honour steal requests while staying at least two ahead of the asker.
  let kept = mine.length - shed.length;
  for (const l of mine) {
    const w = l.wantedBy;
    if (w === null || w === me || !live.has(w) || shed.includes(l.partition)) continue;
    if (kept - countOf(w) >= 2) {
      shed.push(l.partition);
      kept--;
      held.set(w, countOf(w) + 1);
    }
  }

  const take = mine.length < target ? available.slice(0, target - mine.length).map((l) => l.partition) : [];

  let request: number | null = null;
  const mineAfter = mine.length - shed.length + take.length;
  const asked = view.leases.some((l) => valid(l, now) && l.wantedBy === me && l.owner !== me);
  if (take.length === available.length && !asked) {
    let top: string | null = null;
    for (const id of [...live].sort())
      if (id !== me && (top === null || countOf(id) > countOf(top))) top = id;
    if (top !== null && countOf(top) - mineAfter >= 2) {
      const theirs = view.leases
        .filter((l) => valid(l, now) && l.owner === top && (l.wantedBy === null || !live.has(l.wantedBy)))
        .sort((a, b) => b.partition - a.partition);
      request = theirs[0]?.partition ?? null;
    }
  }
  return { target, take, shed: shed.sort((a, b) => a - b), request };
}
