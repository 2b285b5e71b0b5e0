// What the Instances panel shows, from the public cluster view (GET /api/v1/insight/cluster):
// plain data, no DOM, so a unit test checks it for clusters of any size.
import { fmtAgo, fmtInt, fmtPct, fmtRanges, fmtSci } from './format.js';

const MAX_RANGES = 6; // e.g. '0–9, 12, 14–20, …': keeps a row on one line of the table

const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

/** The header line and the budget: partitions held are the union over instances. */
export function clusterSummary(view) {
  const held = new Set(view.instances.flatMap((i) => i.partitions)).size;
  const { requestsPerMinute: plan, usedLastMinute: used } = view.budget;
  const usage = plan > 0 ? used / plan : null;
  return {
    text: `${plural(view.instances.length, 'instance')} · ${fmtInt(held)} of ${fmtInt(view.partitionCount)} partitions`,
    unserved: view.partitionCount - held,
    budget: `${fmtInt(used)} / ${fmtInt(plan)} requests/min (${fmtPct(usage)})`,
    usage,
  };
}

/** One row per instance, ordered by id; `now` is the server's time (heartbeat ages). */
export function instanceRows(view, now) {
  const plan = view.budget.requestsPerMinute;
  return [...view.instances]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((inst) => {
      const share = plan > 0 && inst.requestsPerMinute !== null ? inst.requestsPerMinute / plan : null;
      return {
        id: inst.id,
        self: inst.id === view.instanceId,
        partitions: fmtInt(new Set(inst.partitions).size),
        ranges: fmtRanges(inst.partitions, MAX_RANGES),
        allRanges: fmtRanges(inst.partitions),
        rpm: fmtInt(inst.requestsPerMinute),
        share,
        shareText: fmtPct(share),
        mu: fmtSci(inst.mu),
        heartbeat: fmtAgo(inst.heartbeatAt, now),
      };
    });
}
