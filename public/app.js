// Live dashboard for the token refresh scheduler. Plain browser JS, no dependencies, no CDN:
// everything comes from this server (REST for the token table, WebSocket for live figures).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY_POINTS = 600; // 10 minutes at one status per second
  const history = []; // { t, freshness, usage }
  const state = { batches: 0, prices: 0, events: [], ws: null, retry: 0, lastStatusAt: 0 };

  // ---- formatting -------------------------------------------------------------------------
  const nf = new Intl.NumberFormat('en-US');
  const fmtInt = (n) =>
    n === null || n === undefined || !Number.isFinite(n) ? '–' : nf.format(Math.round(n));
  const fmtPct = (x, digits = 1) =>
    x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)} %`;
  function fmtPrice(p) {
    if (p === null || p === undefined) return '–';
    if (p >= 1000) return nf.format(Math.round(p * 100) / 100);
    if (p >= 1) return p.toFixed(4);
    return p.toPrecision(6);
  }
  function fmtAgo(ms, now) {
    if (!ms) return 'never';
    const s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }
  const fmtSecs = (s) =>
    !Number.isFinite(s) ? '–' : s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`;
  const setText = (id, text) => {
    const el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  };

  // ---- status -----------------------------------------------------------------------------
  function renderStatus(s) {
    const plan = s.plan || {};
    const rates = s.rates || {};
    const tokens = s.tokens || {};
    setText('policy', `policy ${s.policy}`);
    setText('run-state', !s.running ? 'stopped' : s.paused ? 'paused' : 'running');
    setText('refreshes-per-minute', fmtInt(rates.refreshesLastMinute));
    setText('capacity-per-minute', fmtInt((plan.capacityPerSecond || 0) * 60));
    setText('requests-per-minute', fmtInt(rates.requestsLastMinute));
    setText('plan-rpm', fmtInt(plan.requestsPerMinute));
    setText('effective-rpm', fmtInt(plan.effectiveRequestsPerMinute));
    const usage = plan.requestsPerMinute > 0 ? rates.requestsLastMinute / plan.requestsPerMinute : null;
    setText('plan-usage', fmtPct(usage, 0));
    const bar = $('plan-usage-bar');
    bar.style.width = `${Math.min(100, Math.max(0, (usage || 0) * 100))}%`;
    bar.classList.toggle('hot', (usage || 0) > 0.95);
    setText('rate-limited', fmtInt(rates.rateLimitedLastMinute));
    setText('errors', fmtInt(rates.errorsLastMinute));
    const circuit = (s.circuit && s.circuit.state) || 'closed';
    const cEl = $('circuit-state');
    cEl.dataset.state = circuit;
    setText('circuit-state', circuit);
    setText(
      'circuit-retry',
      s.circuit && s.circuit.retryAt
        ? `retry ${fmtAgo(s.now, s.circuit.retryAt).replace(' ago', '')}`
        : '\u00a0',
    );
    setText('backlog', fmtInt(tokens.due));
    setText('queue-size', fmtInt(tokens.queued));
    setText('active-tokens', fmtInt(tokens.active));
    setText('staleness', fmtPct(s.estimatedStaleness));
    setText('last-update', new Date(s.ts || s.now).toLocaleTimeString());
    const errEl = $('last-error');
    if (s.lastError) {
      errEl.hidden = false;
      errEl.textContent = `last error ${fmtAgo(s.lastError.at, s.now)}: ${s.lastError.message}`;
    } else errEl.hidden = true;
    renderTiers(s.tiers || []);
    history.push({
      t: s.ts || s.now,
      freshness:
        s.estimatedStaleness === null || s.estimatedStaleness === undefined ? null : 1 - s.estimatedStaleness,
      usage,
    });
    if (history.length > HISTORY_POINTS) history.splice(0, history.length - HISTORY_POINTS);
    drawChart();
  }

  function renderTiers(tiers) {
    const body = $('tier-table').tBodies[0];
    const rows = tiers.map((t) => [
      t.tier,
      fmtInt(t.tokens),
      (t.refreshesPerMinute || 0).toFixed(1),
      fmtSecs(t.avgIntervalSeconds),
    ]);
    replaceRows(body, rows, [false, true, true, true]);
  }

  function replaceRows(body, rows, numeric, rowClass) {
    const frag = document.createDocumentFragment();
    rows.forEach((cells, i) => {
      const tr = document.createElement('tr');
      if (rowClass && rowClass[i]) tr.className = rowClass[i];
      cells.forEach((c, j) => {
        const td = document.createElement('td');
        if (numeric[j] === true) td.className = 'num';
        else if (typeof numeric[j] === 'string') td.className = numeric[j];
        if (c && typeof c === 'object') {
          td.textContent = c.text;
          td.title = c.title;
        } else td.textContent = c;
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
  }

  // ---- chart (canvas, drawn by hand) ------------------------------------------------------
  function drawChart() {
    const canvas = $('freshness-chart');
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 640;
    const h = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 40, r: 10, t: 10, b: 22 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#30363d';
    ctx.fillStyle = '#8b949e';
    ctx.lineWidth = 1;
    for (let p = 0; p <= 100; p += 25) {
      const y = pad.t + ph - (p / 100) * ph;
      ctx.beginPath();
      ctx.moveTo(pad.l, y);
      ctx.lineTo(pad.l + pw, y);
      ctx.stroke();
      ctx.fillText(`${p}%`, 4, y + 4);
    }
    if (history.length < 2) {
      ctx.fillText('waiting for data…', pad.l + 10, pad.t + 20);
      return;
    }
    const t0 = history[0].t;
    const t1 = history[history.length - 1].t;
    const span = Math.max(1, t1 - t0);
    ctx.fillText(`${Math.round(span / 1000)} s`, pad.l, h - 6);
    ctx.fillText('now', pad.l + pw - 22, h - 6);
    const line = (key, color) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let started = false;
      for (const pt of history) {
        const v = pt[key];
        if (v === null || v === undefined || !Number.isFinite(v)) {
          started = false;
          continue;
        }
        const x = pad.l + ((pt.t - t0) / span) * pw;
        const y = pad.t + ph - Math.min(1, Math.max(0, v)) * ph;
        if (started) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        started = true;
      }
      ctx.stroke();
    };
    line('usage', '#2f81f7');
    line('freshness', '#3fb950');
  }

  // ---- events feed ------------------------------------------------------------------------
  function pushEvent(kind, text, cls) {
    state.events.unshift({ kind, text, cls, at: new Date().toLocaleTimeString() });
    if (state.events.length > 40) state.events.length = 40;
  }
  let eventsDirty = false;
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
        eventsDirty = true;
        break;
      case 'price':
        state.prices++;
        setText('price-events-count', fmtInt(state.prices));
        break;
      case 'circuit':
        pushEvent('circuit', ` ${msg.state}`, msg.state === 'open' ? 'bad' : '');
        eventsDirty = true;
        break;
      case 'rate-limited':
        pushEvent('429', ' price API rate limit hit', 'warn');
        eventsDirty = true;
        break;
      case 'token:failed':
        pushEvent(
          'token failed',
          ` ${msg.address.slice(0, 8)}… ${msg.reason} (×${msg.consecutiveFailures})`,
          'warn',
        );
        eventsDirty = true;
        break;
      case 'token:deactivated':
        pushEvent('deactivated', ` ${msg.address.slice(0, 8)}… ${msg.reason}`, 'bad');
        eventsDirty = true;
        break;
      default:
        break;
    }
  }
  setInterval(renderEvents, 500);

  // ---- WebSocket with reconnect and backoff ------------------------------------------------
  function setConn(s, text) {
    const el = $('connection-state');
    el.dataset.state = s;
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

  // ---- token table (REST) ------------------------------------------------------------------
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
      setText('token-total', `${fmtInt(body.tokens.length)} of ${fmtInt(body.total)}`);
      const rows = body.tokens.map((t) => [
        t.rank === null ? '–' : fmtInt(t.rank),
        t.symbol || '–',
        t.name || '–',
        { text: `${t.address.slice(0, 6)}…${t.address.slice(-4)}`, title: t.address },
        fmtPrice(t.price),
        fmtAgo(t.price_updated_at || t.last_refresh_success, now),
        fmtInt(t.priority_score),
        t.is_active ? 'yes' : 'no',
      ]);
      replaceRows(
        $('token-table').tBodies[0],
        rows,
        [true, false, false, 'addr', true, true, true, false],
        body.tokens.map((t) => (t.is_active ? '' : 'inactive')),
      );
    } catch (err) {
      if (seq === tokenSeq) setText('token-total', 'could not load tokens');
      console.warn(err);
    }
  }
  $('token-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadTokens, 250);
  });
  $('token-sort').addEventListener('change', loadTokens);
  setInterval(() => {
    if (!document.hidden) loadTokens();
  }, 5000);
  window.addEventListener('resize', drawChart);

  connect();
  loadTokens();
  drawChart();
})();
