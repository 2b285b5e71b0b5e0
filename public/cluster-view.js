// The Instances panel: the instances sharing the database, the partitions each holds, its
// requests in the last minute against the plan, its planner multiplier μ and heartbeat age, the
// cluster's budget use, and this instance's planned share of the plan (from the live status).
// Reads GET /api/v1/insight/cluster (public, cached 2 s by the server) every 5 s.
import { clusterSummary, instanceRows } from './cluster-rows.js';
import { fmtPct } from './format.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const SPLIT_TEXT = { mu: 'split by equal μ', partitions: 'split by partition count' };

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

function instanceRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.testid = 'cluster-row';
  tr.dataset.instance = r.id;
  if (r.self) tr.className = 'self';
  const id = cell(r.id, 'addr', 'cluster-id');
  if (r.self) {
    const mark = document.createElement('span');
    mark.className = 'self-mark';
    mark.dataset.testid = 'cluster-self';
    mark.textContent = 'this instance';
    id.append(' ', mark);
  }
  const ranges = cell(r.ranges, 'ranges', 'cluster-ranges');
  ranges.title = r.allRanges;
  const share = cell('', 'share', 'cluster-plan-share');
  const label = document.createElement('span');
  label.textContent = r.shareText;
  share.append(shareBar(r.share), label);
  if (r.share !== null) share.dataset.value = String(r.share);
  tr.append(
    id,
    cell(r.partitions, 'num', 'cluster-partitions'),
    ranges,
    cell(r.rpm, 'num', 'cluster-rpm'),
    share,
    cell(r.mu, 'num', 'cluster-mu'),
    cell(r.heartbeat, 'num', 'cluster-heartbeat'),
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
    const sum = clusterSummary(view);
    const summary = $('cluster-summary');
    summary.textContent = sum.text;
    summary.classList.toggle('bad', sum.unserved > 0);
    $('cluster-budget').textContent = sum.budget;
    const bar = $('cluster-budget-bar');
    bar.style.width = `${Math.min(100, Math.max(0, (sum.usage || 0) * 100))}%`;
    bar.classList.toggle('hot', (sum.usage || 0) > 0.95);
    const now = view.at + (Date.now() - loadedAt);
    $('cluster-table').tBodies[0].replaceChildren(...instanceRows(view, now).map(instanceRow));
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
