/**
 * API load benchmark: does serving operators slow the scheduler down?
 *
 * Starts the offline demo (embedded DB + local market simulator + scheduler + API), measures the
 * scheduler's refresh rate (tokens refreshed per second, from its own batch events) for a window
 * with no HTTP load, then for an equal window while autocannon hits /api/v1/status and /metrics
 * with 100 connections. autocannon runs in a child process, as real clients would (in-process it
 * would share — and distort — the server's event loop). Target: loaded ≥ 95 % of unloaded.
 *
 * Unloaded and loaded windows alternate for `--rounds` (default 3) and the ratio is over the sums:
 * the scheduler's own batch fill varies by ±15 % between 10 s windows as the optimal plan's due
 * set ebbs and flows (seen with a 1-connection control run), so one pair of windows is noise.
 * Besides refreshes/s the report gives requests/s (the pacing an overloaded event loop would slow
 * first), the mean ids per request, and the service's event-loop delay in each window.
 *
 *   npm run bench:api-load [-- --tokens 5000 --rpm 600 --seconds 10 --connections 100]
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startDemo } from '../src/demo.js';

interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Child mode: run autocannon against `url`, print the summary as JSON. */
async function loadWorker(url: string, connections: number, seconds: number): Promise<void> {
  process.stdout.write('START\n'); // the parent opens its measuring window now
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      { method: 'GET', path: '/api/v1/status' },
      { method: 'GET', path: '/metrics' },
    ],
  });
  const out: LoadResult = {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

/**
 * Runs the load in a child process. `started` resolves when autocannon starts (after the child's
 * start-up), `done` with its summary.
 */
function runLoad(
  url: string,
  connections: number,
  seconds: number,
): { started: Promise<void>; done: Promise<LoadResult> } {
  let onStart: () => void = () => {};
  const started = new Promise<void>((r) => (onStart = r));
  const done = new Promise<LoadResult>((resolve, reject) => {
    const self = fileURLToPath(import.meta.url);
    const child = spawn(
      process.execPath,
      [...process.execArgv, self, '--load-worker', url, String(connections), String(seconds)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('START\n')) onStart();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      onStart();
      if (code !== 0) return reject(new Error(`load worker exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (err) {
        reject(new Error(`load worker printed no result: ${out}`, { cause: err }));
      }
    });
  });
  return { started, done };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

interface Window {
  seconds: number;
  batches: number;
  refreshed: number;
  /** Mean ids per request (the batch fill). */
  meanBatchSize: number;
  /** Ids the market did not answer (token-level misses). */
  missing: number;
  refreshesPerSecond: number;
  requestsPerSecond: number;
  failedBatches: number;
  rateLimited: number;
  /** Event-loop delay of the service process over the window, ms. */
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Sums of several windows, rates over the total time; delays are the worst window's. */
function combine(ws: Window[]): Window {
  const seconds = ws.reduce((a, w) => a + w.seconds, 0);
  const refreshed = ws.reduce((a, w) => a + w.refreshed, 0);
  const batches = ws.reduce((a, w) => a + w.batches, 0);
  return {
    seconds: Number(seconds.toFixed(2)),
    batches,
    refreshed,
    meanBatchSize: Number(
      (ws.reduce((a, w) => a + w.meanBatchSize * w.batches, 0) / Math.max(1, batches)).toFixed(1),
    ),
    missing: ws.reduce((a, w) => a + w.missing, 0),
    refreshesPerSecond: Number((refreshed / seconds).toFixed(2)),
    requestsPerSecond: Number((batches / seconds).toFixed(2)),
    failedBatches: ws.reduce((a, w) => a + w.failedBatches, 0),
    rateLimited: ws.reduce((a, w) => a + w.rateLimited, 0),
    loopDelayP50Ms: Math.max(...ws.map((w) => w.loopDelayP50Ms)),
    loopDelayP99Ms: Math.max(...ws.map((w) => w.loopDelayP99Ms)),
    loopDelayMaxMs: Math.max(...ws.map((w) => w.loopDelayMaxMs)),
  };
}

function combineLoad(ls: LoadResult[]): LoadResult {
  return {
    requests: ls.reduce((a, l) => a + l.requests, 0),
    requestsPerSecond: Number((ls.reduce((a, l) => a + l.requestsPerSecond, 0) / ls.length).toFixed(1)),
    latencyP50Ms: Math.max(...ls.map((l) => l.latencyP50Ms)),
    latencyP99Ms: Math.max(...ls.map((l) => l.latencyP99Ms)),
    non2xx: ls.reduce((a, l) => a + l.non2xx, 0),
    errors: ls.reduce((a, l) => a + l.errors, 0),
    timeouts: ls.reduce((a, l) => a + l.timeouts, 0),
  };
}

async function main(): Promise<void> {
  const tokens = arg('tokens', 5000);
  const rpm = arg('rpm', 300);
  const seconds = arg('seconds', 10);
  const connections = arg('connections', 100);
  const warmupSeconds = arg('warmup', 5);
  const roundCount = arg('rounds', 3);

  const demo = await startDemo({ tokens, marketRpm: rpm, dataDir: 'memory://' });
  const counters = { batches: 0, refreshed: 0, asked: 0, missing: 0, failed: 0, rateLimited: 0 };
  const offs = [
    demo.integration.on('batch:completed', (e) => {
      counters.batches++;
      counters.refreshed += e.updated;
      counters.asked += e.size;
      counters.missing += e.failed;
    }),
    demo.integration.on('batch:failed', () => counters.failed++),
    demo.integration.on('rate-limited', () => counters.rateLimited++),
  ];
  /** Scheduler throughput over `seconds` of wall time from now. */
  const measure = async (): Promise<Window> => {
    const start = { ...counters };
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    loop.disable();
    const ms = (ns: number) => Number((ns / 1e6).toFixed(1));
    const refreshed = counters.refreshed - start.refreshed;
    const batches = counters.batches - start.batches;
    return {
      seconds: Number(elapsed.toFixed(2)),
      batches,
      refreshed,
      meanBatchSize: Number(((counters.asked - start.asked) / Math.max(1, batches)).toFixed(1)),
      missing: counters.missing - start.missing,
      refreshesPerSecond: Number((refreshed / elapsed).toFixed(2)),
      requestsPerSecond: Number((batches / elapsed).toFixed(2)),
      failedBatches: counters.failed - start.failed,
      rateLimited: counters.rateLimited - start.rateLimited,
      loopDelayP50Ms: ms(loop.percentile(50)),
      loopDelayP99Ms: ms(loop.percentile(99)),
      loopDelayMaxMs: ms(loop.max),
    };
  };

  try {
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    // Alternate unloaded and loaded windows so a drift of the machine (other processes, the
    // scheduler settling) hits both sides alike; the ratio is over the sums.
    const rounds: Array<{ unloaded: Window; loaded: Window; http: LoadResult }> = [];
    for (let i = 0; i < roundCount; i++) {
      const u = await measure();
      const run = runLoad(demo.apiUrl, connections, seconds);
      await run.started;
      const l = await measure();
      rounds.push({ unloaded: u, loaded: l, http: await run.done });
    }
    const unloaded = combine(rounds.map((r) => r.unloaded));
    const loaded = combine(rounds.map((r) => r.loaded));
    const load = combineLoad(rounds.map((r) => r.http));
    const ratio =
      unloaded.refreshesPerSecond > 0 ? loaded.refreshesPerSecond / unloaded.refreshesPerSecond : 0;
    const report = {
      benchmark: 'api-load',
      config: {
        tokens,
        planRequestsPerMinute: rpm,
        seconds,
        connections,
        endpoints: ['/api/v1/status', '/metrics'],
      },
      unloaded,
      loaded,
      http: load,
      rounds,
      ratio: Number(ratio.toFixed(4)),
      /** Request pacing loaded/unloaded: what an overloaded event loop would slow first. */
      requestRateRatio: Number(
        (loaded.requestsPerSecond / Math.max(1e-9, unloaded.requestsPerSecond)).toFixed(4),
      ),
      target: 0.95,
      pass: ratio >= 0.95,
    };
    console.log(JSON.stringify(report, null, 2));
    console.table({
      unloaded: {
        'refreshes/s': unloaded.refreshesPerSecond,
        'requests/s': unloaded.requestsPerSecond,
        'ids/request': unloaded.meanBatchSize,
        'failed batches': unloaded.failedBatches,
        '429s': unloaded.rateLimited,
        'loop delay p99 ms': unloaded.loopDelayP99Ms,
        'HTTP req/s': 0,
      },
      loaded: {
        'refreshes/s': loaded.refreshesPerSecond,
        'requests/s': loaded.requestsPerSecond,
        'ids/request': loaded.meanBatchSize,
        'failed batches': loaded.failedBatches,
        '429s': loaded.rateLimited,
        'loop delay p99 ms': loaded.loopDelayP99Ms,
        'HTTP req/s': Math.round(load.requestsPerSecond),
      },
    });
    console.log(
      `loaded/unloaded refresh rate: ${(ratio * 100).toFixed(1)} % (target ≥ 95 %) — ${report.pass ? 'PASS' : 'FAIL'}` +
        `; request pacing ${((loaded.requestsPerSecond / Math.max(1e-9, unloaded.requestsPerSecond)) * 100).toFixed(1)} %` +
        `; HTTP p50 ${load.latencyP50Ms} ms, p99 ${load.latencyP99Ms} ms, non-2xx ${load.non2xx}, errors ${load.errors}`,
    );
    if (!report.pass) process.exitCode = 1;
  } finally {
    for (const off of offs) off();
    await demo.stop();
  }
}

if (process.argv[2] === '--load-worker') {
  await loadWorker(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}
