// The Instances panel: the instances sharing the database, the partitions each holds, its
// requests in the last minute against the plan, its planner multiplier μ and heartbeat age, the
// cluster's budget use, and this instance's planned share of the plan (from the live status).
// Reads GET /api/v1/insight/cluster (public, cached 2 s by the server) every 5 s.
import { fmtAgo, fmtInt, fmtPct, fmtRanges, fmtSci } from './format.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const MAX_RANGES = 6; // e.g. '0–9, 12, 14–20, …': keeps the row on one line of the table
const SPLIT_TEXT = { mu: 'split by equal μ', partitions: 'split by partition count' };

const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

function cell(text, cls, testId) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  if (testId) td.dataset.testid = testId;
  return td;
}

/** A bar whose fill is sized through the CSSOM (allowed by the CSP, unlike a style attribute). */
function shareBar(share) {
  const bar = document.createElement('div');
  bar.className = 'bar mini';
  bar.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('div');
  fill.className = 'fill';
  fill.style.width = `${Math.min(100, Math.max(0, (share || 0) * 100))}%`;
  bar.appendChild(fill);
  return bar;
}

function instanceRow(inst, view, now) {
  const plan = view.budget.requestsPerMinute;
  const share = plan > 0 && inst.requestsPerMinute !== null ? inst.requestsPerMinute / plan : null;
  const tr = document.createElement('tr');
  tr.dataset.testid = 'cluster-row';
  tr.dataset.instance = inst.id;
  const self = inst.id === view.instanceId;
  if (self) tr.className = 'self';
  const id = cell(inst.id, 'addr', 'cluster-id');
  if (self) {
    const mark = document.createElement('span');
    mark.className = 'self-mark';
    mark.dataset.testid = 'cluster-self';
    mark.textContent = 'this instance';
    id.append(' ', mark);
  }
  const ranges = cell(fmtRanges(inst.partitions, MAX_RANGES), 'ranges', 'cluster-ranges');
  ranges.title = fmtRanges(inst.partitions);
  const shareCell = cell('', 'share', 'cluster-plan-share');
  const label = document.createElement('span');
  label.textContent = fmtPct(share);
  shareCell.append(shareBar(share), label);
  if (share !== null) shareCell.dataset.value = String(share);
  tr.append(
    id,
    cell(fmtInt(inst.partitions.length), 'num', 'cluster-partitions'),
    ranges,
    cell(fmtInt(inst.requestsPerMinute), 'num', 'cluster-rpm'),
    shareCell,
    cell(fmtSci(inst.mu), 'num', 'cluster-mu'),
    cell(fmtAgo(inst.heartbeatAt, now), 'num', 'cluster-heartbeat'),
  );
  return tr;
}

export function createClusterView() {
  const panel = $('cluster-panel');
  let view = null;
  let loadedAt = 0; // browser time the view arrived: its age is added to the server's `at`
  let timer = null;

  function render() {
    if (!view) return;
    const now = view.at + (Date.now() - loadedAt);
    const held = new Set(view.instances.flatMap((i) => i.partitions)).size;
    const summary = $('cluster-summary');
    summary.textContent = `${plural(view.instances.length, 'instance')} · ${fmtInt(held)} of ${fmtInt(view.partitionCount)} partitions`;
    summary.classList.toggle('bad', held < view.partitionCount);
    const { requestsPerMinute: plan, usedLastMinute: used } = view.budget;
    const usage = plan > 0 ? used / plan : null;
    $('cluster-budget').textContent = `${fmtInt(used)} / ${fmtInt(plan)} requests/min (${fmtPct(usage)})`;
    const bar = $('cluster-budget-bar');
    bar.style.width = `${Math.min(100, Math.max(0, (usage || 0) * 100))}%`;
    bar.classList.toggle('hot', (usage || 0) > 0.95);
    const rows = [...view.instances]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((inst) => instanceRow(inst, view, now));
    $('cluster-table').tBodies[0].replaceChildren(...rows);
  }

  async function load() {
    try {
      const res = await fetch('/api/v1/insight/cluster', { headers: { accept: 'application/json' } });
      if (res.status === 404) {
        // this service reports no cluster (and will not until restarted): no panel, no polling
        panel.hidden = true;
        clearInterval(timer);
        return;
      }
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
      view = body;
      loadedAt = Date.now();
      panel.hidden = false;
      render();
    } catch (err) {
      $('cluster-summary').textContent = 'could not load the cluster';
      console.warn(err);
    }
  }

  /** This instance's planned share of the plan, from the status the WebSocket pushes. */
  function status(cluster) {
    const share = cluster && typeof cluster.budgetShare === 'number' ? cluster.budgetShare : null;
    const el = $('cluster-share');
    el.textContent = fmtPct(share);
    el.dataset.value = share === null ? '' : String(share);
    $('cluster-split').textContent = (cluster && SPLIT_TEXT[cluster.budgetSplit]) || '–';
  }

  function start() {
    load();
    timer = setInterval(() => {
      if (!document.hidden) load();
    }, REFRESH_MS);
  }

  return { start, status };
}
