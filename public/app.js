// Live dashboard for the token refresh scheduler. Plain browser modules, no CDN: everything comes
// from this server (REST for tokens, history and the policy projection; a WebSocket for live
// figures; uPlot from the bundled package for the charts).
import { available, tierScatter, timeChart } from './charts.js';
import {
  fmtAgo,
  fmtDuration,
  fmtInt,
  fmtPct,
  fmtPrice,
  fmtRate,
  fmtSigma,
  smoother,
  TIER_COLORS,
} from './format.js';
import { createClusterView } from './cluster-view.js';
import { createTokenView } from './token-view.js';

const $ = (id) => document.getElementById(id);
const SAMPLE_MS = 5000; // one chart point per 5 s, as the server's history ring
const MAX_SAMPLES = 720; // the last hour
const TIERS = Object.keys(TIER_COLORS);
const state = { batches: 0, prices: 0, events: [], ws: null, retry: 0, lastStatusAt: 0, lastSampleAt: 0 };
const samples = []; // { t, staleness, usage, tiers, projected }
let insight = null;
const smooth = smoother(30_000);
const clusterView = createClusterView();

const setText = (id, text) => {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
};

// ---- charts ---------------------------------------------------------------------------------
const pctAxis = (v) => fmtPct(v);
const charts = {
  freshness: timeChart($('freshness-chart'), {
    series: [
      { label: 'freshness (1 − staleness)', color: '#3fb950' },
      { label: 'plan usage', color: '#2f81f7' },
    ],
    yRange: [0, 1],
    yFmt: (v) => `${Math.round(v * 100)}%`,
  }),
  buys: timeChart($('buys-chart'), {
    series: [
      { label: 'optimal (running)', color: '#3fb950' },
      { label: 'seed tiered', color: '#d29922' },
      { label: 'round-robin', color: '#8b949e', dash: [6, 4] },
    ],
    yFmt: pctAxis,
  }),
  tierRates: timeChart($('tier-rates-chart'), {
    series: TIERS.map((t) => ({ label: t, color: TIER_COLORS[t] })),
    yFmt: (v) => fmtRate(v),
  }),
  byWeight: tierScatter($('map-weight'), {
    xLabel: 'importance (seed score)',
    yLabel: 'planned interval',
    xFmt: (v) => fmtInt(v),
    yFmt: (v) => fmtDuration(v),
  }),
  bySigma: tierScatter($('map-sigma'), {
    xLabel: 'learned volatility (per day)',
    yLabel: 'planned interval',
    xFmt: (v) => fmtPct(v),
    yFmt: (v) => fmtDuration(v),
  }),
};

function drawTimelines() {
  const t = samples.map((s) => s.t / 1000);
  charts.freshness?.set([
    t,
    samples.map((s) => (s.staleness === null ? null : 1 - s.staleness)),
    samples.map((s) => s.usage),
  ]);
  const proj = (k) => samples.map((s) => (s.projected ? s.projected[k] : null));
  charts.buys?.set([t, proj('optimal'), proj('tiered'), proj('uniform')]);
  charts.tierRates?.set([t, ...TIERS.map((name) => samples.map((s) => s.tiers[name] ?? null))]);
}

function addSample(s) {
  samples.push(s);
  if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
}

/** The last hour from the server (kept in memory there), so a reload keeps the charts. */
async function loadHistory() {
  try {
    const body = await (await fetch('/api/v1/insight/history')).json();
    for (const s of body.samples || []) {
      addSample({ ...s, usage: null });
      state.lastSampleAt = s.t;
    }
    drawTimelines();
  } catch (err) {
    console.warn('could not load chart history', err);
  }
}

// ---- what the policy buys, where the budget goes ---------------------------------------------
async function loadInsight() {
  try {
    insight = await (await fetch('/api/v1/insight')).json();
  } catch (err) {
    console.warn(err);
    return;
  }
  const live = insight.live;
  for (const k of ['optimal', 'tiered', 'uniform']) {
    setText(`buys-${k}`, live ? fmtPct(live[k]) : '–');
    $(`buys-${k}`).dataset.value = live ? String(live[k]) : '';
  }
  if (live && live.optimal > 0) {
    const x = (v) => `${(v / live.optimal).toFixed(1)}×`;
    setText('buys-ratio', `${x(live.tiered)} less stale than tiered, ${x(live.uniform)} than round-robin`);
  } else setText('buys-ratio', 'projection pending (first one a few seconds after start)');
  const plans = (insight.plans || []).map((p) => [
    p.plan,
    fmtInt(p.requestsPerMinute),
    fmtPct(p.optimal),
    fmtPct(p.tiered),
    fmtPct(p.uniform),
  ]);
  replaceRows($('plans-table').tBodies[0], plans, [false, true, true, true, true]);
  const map = insight.map || [];
  charts.byWeight.set(map.map((p) => ({ x: p.weight, y: p.intervalSeconds, tier: p.tier })));
  charts.bySigma.set(map.map((p) => ({ x: p.sigmaDaily, y: p.intervalSeconds, tier: p.tier })));
}

// ---- status -----------------------------------------------------------------------------------
function renderStatus(s) {
  const plan = s.plan || {};
  const rates = s.rates || {};
  const tokens = s.tokens || {};
  const t = s.ts || s.now;
  setText('policy', `policy ${s.policy}`);
  setText('run-state', !s.running ? 'stopped' : s.paused ? 'paused' : 'running');
  setText('refreshes-per-minute', fmtInt(rates.refreshesLastMinute));
  setText('capacity-per-minute', fmtInt((plan.capacityPerSecond || 0) * 60));
  setText('requests-per-minute', fmtInt(rates.requestsLastMinute));
  setText('plan-rpm', fmtInt(plan.requestsPerMinute));
  setText('effective-rpm', fmtInt(plan.effectiveRequestsPerMinute));
  const usage = plan.requestsPerMinute > 0 ? rates.requestsLastMinute / plan.requestsPerMinute : null;
  setText('plan-usage', usage === null ? '–' : `${Math.round(usage * 100)} %`);
  const bar = $('plan-usage-bar');
  bar.style.width = `${Math.min(100, Math.max(0, (usage || 0) * 100))}%`;
  bar.classList.toggle('hot', (usage || 0) > 0.95);
  setText('rate-limited', fmtInt(rates.rateLimitedLastMinute));
  setText('errors', fmtInt(rates.errorsLastMinute));
  const circuit = (s.circuit && s.circuit.state) || 'closed';
  $('circuit-state').dataset.state = circuit;
  setText('circuit-state', circuit);
  setText(
    'circuit-retry',
    s.circuit && s.circuit.retryAt ? `retry in ${fmtDuration((s.circuit.retryAt - s.now) / 1000)}` : '\u00a0',
  );
  setText('backlog', fmtInt(tokens.due));
  setText('queue-size', fmtInt(tokens.queued));
  setText('active-tokens', fmtInt(tokens.active));
  setText('staleness', fmtPct(s.estimatedStaleness));
  $('staleness').dataset.value = s.estimatedStaleness === null ? '' : String(s.estimatedStaleness);
  setText('last-update', new Date(t).toLocaleTimeString());
  const errEl = $('last-error');
  if (s.lastError) {
    errEl.hidden = false;
    errEl.textContent = `last error ${fmtAgo(s.lastError.at, s.now)}: ${s.lastError.message}`;
  } else errEl.hidden = true;
  renderTiers(s.tiers || [], t);
  clusterView.status(s.cluster);
  if (t - state.lastSampleAt >= SAMPLE_MS) {
    state.lastSampleAt = t;
    const tiers = {};
    for (const r of s.tiers || []) tiers[r.tier] = r.refreshesPerMinute;
    addSample({ t, staleness: s.estimatedStaleness, usage, tiers, projected: insight ? insight.live : null });
    drawTimelines();
  }
}

function renderTiers(tiers, t) {
  const rows = tiers.map((r) => [
    { text: r.tier, cls: `tier tier-${r.tier}` },
    fmtInt(r.tokens),
    fmtRate(smooth(r.tier, r.refreshesPerMinute || 0, t)),
    r.tokens > 0 ? fmtDuration(r.avgIntervalSeconds) : '–',
  ]);
  replaceRows($('tier-table').tBodies[0], rows, [false, true, true, true]);
}

function replaceRows(body, rows, numeric, rowAttrs) {
  const frag = document.createDocumentFragment();
  rows.forEach((cells, i) => {
    const tr = document.createElement('tr');
    if (rowAttrs && rowAttrs[i])
      (Object.assign(tr.dataset, rowAttrs[i].data || {}), (tr.className = rowAttrs[i].cls || ''));
    cells.forEach((c, j) => {
      const td = document.createElement('td');
      if (numeric[j] === true) td.className = 'num';
      else if (typeof numeric[j] === 'string') td.className = numeric[j];
      if (c && typeof c === 'object') {
        td.textContent = c.text;
        if (c.title) td.title = c.title;
        if (c.cls) td.className = `${td.className} ${c.cls}`.trim();
      } else td.textContent = c;
      tr.appendChild(td);
    });
    frag.appendChild(tr);
  });
  body.replaceChildren(frag);
}

// ---- events feed ------------------------------------------------------------------------------
let eventsDirty = false;
function pushEvent(kind, text, cls) {
  state.events.unshift({ kind, text, cls, at: new Date().toLocaleTimeString() });
  if (state.events.length > 40) state.events.length = 40;
  eventsDirty = true;
}
function renderEvents() {
  if (!eventsDirty) return;
  eventsDirty = false;
  const frag = document.createDocumentFragment();
  for (const e of state.events) {
    const li = document.createElement('li');
    if (e.cls) li.className = e.cls;
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = `${e.at} ${e.kind}`;
    li.append(t, document.createTextNode(e.text));
    frag.appendChild(li);
  }
  $('events').replaceChildren(frag);
}
setInterval(renderEvents, 500);

function onMessage(msg) {
  switch (msg.type) {
    case 'status':
      state.lastStatusAt = Date.now();
      renderStatus(msg);
      break;
    case 'batch':
      state.batches++;
      setText('batches-count', fmtInt(state.batches));
      if (msg.result === 'failed') pushEvent('batch failed', ` ${msg.errorType}: ${msg.message}`, 'bad');
      else if (msg.failed > 0)
        pushEvent('batch', ` ${msg.updated}/${msg.size} updated, ${msg.failed} missing`, 'warn');
      else
        pushEvent(
          'batch',
          ` ${msg.updated}/${msg.size} updated, ${msg.changed} changed, ${msg.durationMs} ms`,
        );
      break;
    case 'price':
      state.prices++;
      setText('price-events-count', fmtInt(state.prices));
      break;
    case 'circuit':
      pushEvent('circuit', ` ${msg.state}`, msg.state === 'open' ? 'bad' : '');
      break;
    case 'rate-limited':
      pushEvent('429', ' price API rate limit hit', 'warn');
      break;
    case 'token:failed':
      pushEvent(
        'token failed',
        ` ${msg.address.slice(0, 8)}… ${msg.reason} (×${msg.consecutiveFailures})`,
        'warn',
      );
      break;
    case 'token:deactivated':
      pushEvent('deactivated', ` ${msg.address.slice(0, 8)}… ${msg.reason}`, 'bad');
      break;
    default:
      break;
  }
}

// ---- WebSocket with reconnect and backoff -----------------------------------------------------
function setConn(s, text) {
  $('connection-state').dataset.state = s;
  setText('connection-state', text);
}
function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/stream`;
  setConn('connecting', 'connecting…');
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 0;
    setConn('open', 'live');
  };
  ws.onmessage = (ev) => {
    try {
      onMessage(JSON.parse(ev.data));
    } catch (err) {
      console.warn('bad stream message', err);
    }
  };
  ws.onclose = () => {
    if (state.ws === ws) scheduleReconnect();
  };
  ws.onerror = () => ws.close();
}
function scheduleReconnect() {
  state.ws = null;
  const delay = Math.min(15000, 500 * 2 ** state.retry) * (0.75 + Math.random() * 0.5);
  state.retry = Math.min(state.retry + 1, 10);
  setConn('closed', `reconnecting in ${Math.ceil(delay / 1000)} s`);
  setTimeout(connect, delay);
}
// A silent socket (proxy half-open) is treated as dead after 10 s without a status.
setInterval(() => {
  if (
    state.ws &&
    state.ws.readyState === 1 &&
    state.lastStatusAt &&
    Date.now() - state.lastStatusAt > 10000
  ) {
    state.ws.close();
  }
}, 2000);

// ---- token table (REST) -----------------------------------------------------------------------
const tokenView = createTokenView();
let searchTimer = null;
let tokenSeq = 0;
async function loadTokens() {
  const seq = ++tokenSeq;
  const search = $('token-search').value.trim();
  const [sort, order] = $('token-sort').value.split(':');
  const qs = new URLSearchParams({ limit: '50', sort, order });
  if (search) qs.set('search', search);
  try {
    const res = await fetch(`/api/v1/tokens?${qs}`, { headers: { accept: 'application/json' } });
    const body = await res.json();
    if (seq !== tokenSeq) return; // a newer search is in flight
    if (!res.ok) {
      setText('token-total', body.message || `error ${res.status}`);
      return;
    }
    const now = Date.now();
    setText(
      'token-total',
      `${fmtInt(body.tokens.length)} of ${fmtInt(body.total)} · click a row for its price history`,
    );
    const rows = body.tokens.map((t) => [
      t.rank === null ? '–' : fmtInt(t.rank),
      t.symbol || '–',
      t.name || '–',
      { text: `${t.address.slice(0, 6)}…${t.address.slice(-4)}`, title: t.address },
      fmtPrice(t.price),
      fmtAgo(t.price_updated_at || t.last_refresh_success, now),
      { text: t.tier || '–', cls: `tier tier-${t.tier}` },
      {
        text: fmtInt(t.score),
        title: t.priority_score ? `includes a manual boost of ${t.priority_score}` : '',
      },
      fmtDuration(t.planned_interval_seconds),
      t.is_active ? 'yes' : 'no',
    ]);
    replaceRows(
      $('token-table').tBodies[0],
      rows,
      [true, false, false, 'addr', true, true, false, true, true, false],
      body.tokens.map((t) => ({
        cls: t.is_active ? 'clickable' : 'clickable inactive',
        data: { address: t.address },
      })),
    );
  } catch (err) {
    if (seq === tokenSeq) setText('token-total', 'could not load tokens');
    console.warn(err);
  }
}
$('token-table').tBodies[0].addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr');
  if (tr && tr.dataset.address) tokenView.open(tr.dataset.address);
});
$('token-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadTokens, 250);
});
$('token-sort').addEventListener('change', loadTokens);
setInterval(() => {
  if (!document.hidden) loadTokens();
}, 5000);
setInterval(() => {
  if (!document.hidden) loadInsight();
}, 10000);

if (!available()) console.warn('uPlot missing: charts are disabled');
// History first, then live: the charts start with the last hour instead of an empty frame.
loadHistory().then(() => {
  connect();
  loadInsight();
});
loadTokens();
clusterView.start();
