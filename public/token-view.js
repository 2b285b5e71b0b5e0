// The token view: a token's price history with its refresh moments, what the scheduler knows and
// plans for it, and (with admin rights) its settings and a refresh-now button.
import { priceChart } from './charts.js';
import { fmtAgo, fmtDuration, fmtInt, fmtPrice, fmtSigma } from './format.js';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
  return body;
}

export function createTokenView() {
  const panel = $('token-view');
  let chart = null;
  let address = null;
  let timer = null;
  let seq = 0;

  function fact(id, text) {
    $(id).textContent = text;
  }

  function adminHeaders(json) {
    const h = { accept: 'application/json' };
    if (json) h['content-type'] = 'application/json';
    const token = $('tv-admin-token').value.trim();
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  function say(text, bad) {
    const el = $('tv-admin-result');
    el.textContent = text;
    el.classList.toggle('bad', !!bad);
  }

  async function load() {
    if (!address) return;
    const my = ++seq;
    const a = enc(address);
    try {
      const [token, sched, hist] = await Promise.all([
        getJson(`/api/v1/tokens/${a}`),
        getJson(`/api/v1/tokens/${a}/schedule`),
        getJson(`/api/v1/tokens/${a}/history?limit=500`),
      ]);
      if (my !== seq) return;
      render(token, sched, hist);
    } catch (err) {
      if (my === seq) fact('tv-status', `could not load: ${err.message}`);
    }
  }

  function render(token, sched, hist) {
    const now = Date.now();
    const s = sched.schedule;
    fact('tv-title', `${token.symbol || '?'} · ${token.name || ''}`);
    fact('tv-address', token.address);
    fact('tv-price', fmtPrice(token.price));
    fact('tv-tier', s ? s.tier : '–');
    fact('tv-weight', s ? fmtInt(s.weight) : '–');
    fact('tv-interval', s ? fmtDuration(s.plannedIntervalSeconds) : 'not scheduled');
    fact('tv-sigma', s && s.sigmaDaily !== null ? fmtSigma(s.sigmaDaily) : '–');
    fact('tv-samples', s ? `${fmtInt(s.sigmaSamples)} returns seen` : '');
    fact(
      'tv-next',
      s && s.nextDueAt
        ? s.nextDueAt <= now
          ? 'due now'
          : `in ${fmtDuration((s.nextDueAt - now) / 1000)}`
        : '–',
    );
    fact('tv-last', fmtAgo(token.last_refresh_success, now));
    fact('tv-failures', s ? fmtInt(s.consecutiveFailures) : '–');
    const e = sched.lastError;
    fact('tv-error', e ? `${e.reason} (${fmtAgo(e.at, now)}, ×${e.consecutiveFailures})` : 'none');
    fact(
      'tv-status',
      `${fmtInt(hist.points.length)} price changes shown${hist.next ? ' (older ones exist)' : ''}`,
    );
    // form defaults, unless the user is editing
    if (!panel.contains(document.activeElement)) {
      $('tv-interval-input').value = token.refresh_interval_seconds ?? '';
      $('tv-boost-input').value = token.priority_score ?? 0;
      $('tv-active-input').checked = !!token.is_active;
    }
    drawChart(token, hist.points);
  }

  function drawChart(token, newestFirst) {
    const pts = [...newestFirst].reverse();
    const rows = pts.map((p) => ({ t: p.t, price: p.price, refreshed: p.price }));
    // the last refresh that did not change the price still counts as a refresh moment
    const last = token.last_refresh_success;
    if (last && token.price !== null && (!rows.length || last > rows[rows.length - 1].t)) {
      rows.push({ t: last, price: token.price, refreshed: token.price });
    }
    const data = [rows.map((r) => r.t / 1000), rows.map((r) => r.price), rows.map((r) => r.refreshed)];
    if (!chart) chart = priceChart($('tv-chart'), { yFmt: fmtPrice });
    chart?.set(data);
  }

  async function save(ev) {
    ev.preventDefault();
    const iv = $('tv-interval-input').value.trim();
    const body = {
      refresh_interval_seconds: iv === '' ? null : Number(iv),
      priority_score: Number($('tv-boost-input').value || 0),
      is_active: $('tv-active-input').checked,
    };
    const res = await fetch(`/api/v1/tokens/${enc(address)}/settings`, {
      method: 'PATCH',
      headers: adminHeaders(true),
      body: JSON.stringify(body),
    });
    const out = await res.json().catch(() => ({}));
    say(res.ok ? 'settings saved' : out.message || `HTTP ${res.status}`, !res.ok);
    if (res.ok) load();
  }

  async function refreshNow() {
    say('refreshing through the rate limiter…');
    const res = await fetch(`/api/v1/tokens/${enc(address)}/refresh`, {
      method: 'POST',
      headers: adminHeaders(false),
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) say(out.message || `HTTP ${res.status}`, true);
    else
      say(
        out.refreshed
          ? `refreshed: ${fmtPrice(out.price)}${out.changed ? '' : ' (unchanged)'}`
          : `not refreshed: ${out.reason}`,
        !out.refreshed,
      );
    load();
  }

  $('tv-form').addEventListener('submit', save);
  $('tv-refresh').addEventListener('click', refreshNow);
  $('tv-close').addEventListener('click', () => close());

  function open(addr) {
    address = addr;
    panel.hidden = false;
    say('');
    load();
    clearInterval(timer);
    timer = setInterval(() => {
      if (!document.hidden) load();
    }, 5000);
    panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  function close() {
    address = null;
    panel.hidden = true;
    clearInterval(timer);
  }

  return { open, close };
}
