/**
 * API load benchmark: does serving operators slow the scheduler down?
 *
 * Starts the offline demo (embedded DB + local market simulator + scheduler + API), measures the
 * scheduler's refresh rate (tokens refreshed per second, from its own batch events) for a window
 * with no HTTP load, then for an equal window while autocannon hits /api/v1/status and /metrics
 * with 100 connections. autocannon runs in a child process, as real clients would (in-process it
 * would share — and distort — the server's event loop). Target: loaded ≥ 95 % of unloaded.
 *
 *   npm run bench:api-load [-- --tokens 5000 --rpm 600 --seconds 10 --connections 100]
 */
import { spawn } from 'node:child_process';
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

function runLoad(url: string, connections: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url);
    const child = spawn(
      process.execPath,
      [...process.execArgv, self, '--load-worker', url, String(connections), String(seconds)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load worker exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (err) {
        reject(new Error(`load worker printed no result: ${out}`, { cause: err }));
      }
    });
  });
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
  refreshesPerSecond: number;
  requestsPerSecond: number;
  failedBatches: number;
  rateLimited: number;
}

async function main(): Promise<void> {
  const tokens = arg('tokens', 5000);
  const rpm = arg('rpm', 600);
  const seconds = arg('seconds', 10);
  const connections = arg('connections', 100);
  const warmupSeconds = arg('warmup', 5);

  const demo = await startDemo({ tokens, marketRpm: rpm, dataDir: 'memory://' });
  const counters = { batches: 0, refreshed: 0, failed: 0, rateLimited: 0 };
  const offs = [
    demo.integration.on('batch:completed', (e) => {
      counters.batches++;
      counters.refreshed += e.updated;
    }),
    demo.integration.on('batch:failed', () => counters.failed++),
    demo.integration.on('rate-limited', () => counters.rateLimited++),
  ];
  const measure = async (during: Promise<unknown> | null): Promise<Window> => {
    const start = { ...counters };
    const t0 = performance.now();
    if (during) await during;
    else await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const refreshed = counters.refreshed - start.refreshed;
    const batches = counters.batches - start.batches;
    return {
      seconds: Number(elapsed.toFixed(2)),
      batches,
      refreshed,
      refreshesPerSecond: Number((refreshed / elapsed).toFixed(2)),
      requestsPerSecond: Number((batches / elapsed).toFixed(2)),
      failedBatches: counters.failed - start.failed,
      rateLimited: counters.rateLimited - start.rateLimited,
    };
  };

  try {
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    const unloaded = await measure(null);
    let load: LoadResult | null = null;
    const loaded = await measure(
      runLoad(demo.apiUrl, connections, seconds).then((r) => {
        load = r;
      }),
    );
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
      ratio: Number(ratio.toFixed(4)),
      target: 0.95,
      pass: ratio >= 0.95,
    };
    console.log(JSON.stringify(report, null, 2));
    const l = load as LoadResult | null;
    console.table({
      unloaded: {
        'refreshes/s': unloaded.refreshesPerSecond,
        'requests/s': unloaded.requestsPerSecond,
        'failed batches': unloaded.failedBatches,
        '429s': unloaded.rateLimited,
        'HTTP req/s': 0,
      },
      loaded: {
        'refreshes/s': loaded.refreshesPerSecond,
        'requests/s': loaded.requestsPerSecond,
        'failed batches': loaded.failedBatches,
        '429s': loaded.rateLimited,
        'HTTP req/s': l ? Math.round(l.requestsPerSecond) : 0,
      },
    });
    console.log(
      `loaded/unloaded refresh rate: ${(ratio * 100).toFixed(1)} % (target ≥ 95 %) — ${report.pass ? 'PASS' : 'FAIL'}` +
        (l
          ? `; HTTP p50 ${l.latencyP50Ms} ms, p99 ${l.latencyP99Ms} ms, non-2xx ${l.non2xx}, errors ${l.errors}`
          : ''),
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
