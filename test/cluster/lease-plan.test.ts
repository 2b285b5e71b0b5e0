import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { resolveBudgetSplit, resolveInstanceId, resolveLeaseMs } from '../../src/cluster/instance.js';
import type { ClusterView, LeaseRow } from '../../src/cluster/lease-store.js';
import { planRound } from '../../src/cluster/lease-plan.js';

const NOW = 1_000_000;

/** A table where owners[i] holds partition i (null = free); `expired` partitions ran out. */
function view(
  owners: (string | null)[],
  live: string[],
  extra: Partial<Record<number, Partial<LeaseRow>>> = {},
): ClusterView {
  return {
    nowMs: NOW,
    live,
    leases: owners.map((owner, partition) => ({
      partition,
      owner,
      epoch: 1,
      expiresAtMs: owner === null ? null : NOW + 5_000,
      wantedBy: null,
      ...extra[partition],
    })),
  };
}
const held = (spec: [string, number][]): (string | null)[] =>
  spec.flatMap(([id, n]) => Array<string | null>(n).fill(id));

describe('planRound', () => {
  it('alone: takes every free partition, lowest first', () => {
    const p = planRound(view(Array(64).fill(null), ['a']), 'a');
    expect(p).toEqual({ target: 64, take: Array.from({ length: 64 }, (_, i) => i), shed: [], request: null });
  });

  it('takes expired leases before free ones, and never a live one', () => {
    const owners = held([['b', 60]]).concat([null, null, null, null]);
    const v = view(owners, ['a', 'b'], { 7: { expiresAtMs: NOW }, 9: { expiresAtMs: NOW - 1 } });
    const p = planRound(v, 'a');
    expect(p.target).toBe(32);
    expect(p.take).toEqual([7, 9, 60, 61, 62, 63]);
  });

  it('an owner above target sheds its excess when a newcomer has nothing to take, highest numbers first', () => {
    const v = view(held([['a', 64]]), ['a', 'b'], { 10: { wantedBy: 'b' } });
    const p = planRound(v, 'a');
    expect(p.shed).toHaveLength(32);
    expect(p.shed).toContain(10); // asked for: goes first
    expect(p.shed.filter((x) => x !== 10)).toEqual(Array.from({ length: 31 }, (_, i) => 33 + i));
    expect(p.take).toEqual([]);
  });

  it('does not shed what free partitions can cover', () => {
    const owners = held([['a', 40]]).concat(Array<null>(24).fill(null));
    expect(planRound(view(owners, ['a', 'b']), 'a').shed).toHaveLength(8); // b needs 32, 24 are free
  });

  it('steals at most one per round, from the most loaded owner, only when two or more behind (22/22/20 -> ask)', () => {
    const owners = held([
      ['a', 22],
      ['b', 22],
      ['c', 20],
    ]);
    const p = planRound(view(owners, ['a', 'b', 'c']), 'c');
    expect(p).toMatchObject({ target: 22, take: [], shed: [] });
    expect(p.request).toBe(21); // a's highest partition (a and b tie; a sorts first)
    // b is the one asked: it hands over (stays two ahead of c).
    const asked = view(owners, ['a', 'b', 'c'], { 43: { wantedBy: 'c' } });
    expect(planRound(asked, 'b').shed).toEqual([43]);
    // ...and c asks nobody else while that request is open.
    expect(planRound(asked, 'c').request).toBeNull();
    // 22/21/21: balanced, nobody asks or sheds.
    const even = held([
      ['a', 22],
      ['b', 21],
      ['c', 21],
    ]);
    for (const me of ['a', 'b', 'c'])
      expect(planRound(view(even, ['a', 'b', 'c']), me)).toMatchObject({ shed: [], request: null });
  });

  it('leaves a released partition to the live instance below target that asked for it', () => {
    const owners = held([
      ['a', 40],
      ['b', 20],
      ['c', 3],
    ]).concat([null]);
    const v = view(owners, ['a', 'b', 'c'], { 63: { wantedBy: 'b' } });
    expect(planRound(v, 'c').take).toEqual([]);
    expect(planRound(v, 'b').take).toEqual([63]);
    // Once the asker is at target (or gone), anyone below target may take it.
    const dead = view(owners, ['a', 'c'], { 63: { wantedBy: 'b' } });
    expect(planRound(dead, 'c').take).toEqual([63]);
  });

  it('does not count partitions it is draining as held or available', () => {
    const v = view(held([['a', 64]]), ['a', 'b']);
    const p = planRound(v, 'a', new Set(Array.from({ length: 32 }, (_, i) => 32 + i)));
    expect(p).toMatchObject({ shed: [], take: [] });
    // A draining partition found free (released by a new owner meanwhile) is not taken back
    // while this instance's own release of it is still pending.
    const out = view(held([['a', 64]]), ['a'], { 5: { owner: null, expiresAtMs: null } });
    expect(planRound(out, 'a', new Set([5])).take).toEqual([]);
    expect(planRound(out, 'a').take).toEqual([5]);
  });
});

describe('instance id and lease length from the environment', () => {
  it('uses TOKEN_REFRESH_INSTANCE_ID, else host-pid-random; refuses a malformed id with the variable named', () => {
    expect(resolveInstanceId({ TOKEN_REFRESH_INSTANCE_ID: 'web-1' })).toBe('web-1');
    expect(resolveInstanceId({}, 4242)).toMatch(/^[A-Za-z0-9.-]+-4242-[0-9a-f]{6}$/);
    expect(resolveInstanceId({}, 1)).not.toBe(resolveInstanceId({}, 1));
    expect(() => resolveInstanceId({ TOKEN_REFRESH_INSTANCE_ID: 'a b' })).toThrow(ConfigError);
    expect(() => resolveInstanceId({ TOKEN_REFRESH_INSTANCE_ID: 'a b' })).toThrow(
      /^TOKEN_REFRESH_INSTANCE_ID: /,
    );
  });

  it('reads TOKEN_REFRESH_LEASE_SECONDS (default 10 s, 3..600)', () => {
    expect(resolveLeaseMs({})).toBe(10_000);
    expect(resolveLeaseMs({ TOKEN_REFRESH_LEASE_SECONDS: '15' })).toBe(15_000);
    expect(() => resolveLeaseMs({ TOKEN_REFRESH_LEASE_SECONDS: '1' })).toThrow(
      /^TOKEN_REFRESH_LEASE_SECONDS: /,
    );
    expect(() => resolveLeaseMs({ TOKEN_REFRESH_LEASE_SECONDS: 'ten' })).toThrow(ConfigError);
  });

  it('reads TOKEN_REFRESH_BUDGET_SPLIT (mu by default, or partitions)', () => {
    expect(resolveBudgetSplit({})).toBe('mu');
    expect(resolveBudgetSplit({ TOKEN_REFRESH_BUDGET_SPLIT: '' })).toBe('mu');
    expect(resolveBudgetSplit({ TOKEN_REFRESH_BUDGET_SPLIT: 'partitions' })).toBe('partitions');
    expect(resolveBudgetSplit({ TOKEN_REFRESH_BUDGET_SPLIT: 'mu' })).toBe('mu');
    expect(() => resolveBudgetSplit({ TOKEN_REFRESH_BUDGET_SPLIT: 'μ' })).toThrow(
      /^TOKEN_REFRESH_BUDGET_SPLIT: /,
    );
  });
});
