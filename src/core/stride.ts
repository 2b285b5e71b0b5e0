/**
 * An even stride sample: every ⌈count / max⌉-th item from the first, so at most `max` items of
 * `count`, in order, without copying the rest. The re-plan, the plan statistics and the
 * dashboard's projections sample a million tokens this way: the tokens are loaded in id order,
 * which for an imported ranking is rank order, so a stride keeps every tier's share.
 */
export function* strided<T>(items: Iterable<T>, count: number, max: number): Generator<T> {
  if (!(max >= 1)) return;
  const step = Math.max(1, Math.ceil(count / max));
  let i = 0;
  for (const item of items) {
    if (i++ % step === 0) yield item;
  }
}
