/**
 * Import benchmark (`npm run bench:import`): the BUILT CLI `node dist/cli/main.js tokens import
 * FILE` as a child process against a throw-away PostgreSQL database, for 100k and 1M rows.
 *
 * Per size, in a fresh database: a first import (all rows new), a re-import of the same file
 * (every row exists and is unchanged) and a re-import of a file where 1 % of the rows changed
 * (rank, volume). Each is timed (wall, from spawn to exit) with the child's peak RSS (VmHWM of
 * /proc/<pid>/status, polled every 20 ms: it only grows, so the last reading before exit is the
 * peak within one poll). The "writing" progress line splits the wall time into reading+staging
 * and the write from the staging table.
 *
 * Baseline in the same run (the floor): a raw `COPY … FROM STDIN (FORMAT csv, HEADER)` of the
 * same CSV into an unindexed table with the same columns, from this process. Every import is
 * printed as seconds and as a ratio to that floor.
 *
 * Env: BENCH_IMPORT_SIZES (default "100000,1000000"), BENCH_DATABASE_URL / TEST_DATABASE_URL.
 * Needs `npm run build` first (the script runs it).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { withTempDatabase } from './pg-temp.js';

const SIZES = (process.env.BENCH_IMPORT_SIZES || '100000,1000000').split(',').map(Number);
const CLI = path.resolve('dist/cli/main.js');
const HEADER = 'address,symbol,name,decimals,rank,volume_24h,in_contest,priority_score,is_active';

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** Token k's address: k scrambled (a bijection on 32 bits), so addresses arrive in random order
 * as real mint addresses do, not sorted (which would make the unique index's inserts sequential). */
function address(k: number): string {
  let n = Math.imul(k, 0x9e3779b1) >>> 0;
  let s = '';
  do {
    s = B58[n % 58] + s;
    n = Math.floor(n / 58);
  } while (n > 0);
  return `Mkt${s.padStart(37, '1')}`;
}

/** Token k's CSV line; `changed` alters its rank and volume (the 1 % file). */
function csvLine(k: number, changed: boolean): string {
  const rank = changed ? k + 7 : k;
  const volume = changed ? k * 3.25 : k * 2.5;
  return `${address(k)},S${k},Token ${k},${k % 19},${rank},${volume},${k % 50 === 0},${k % 7},true\n`;
}

async function writeCsv(file: string, rows: number, changedEvery = 0): Promise<void> {
  const out = createWriteStream(file);
  let buf = `${HEADER}\n`;
  for (let k = 1; k <= rows; k++) {
    buf += csvLine(k, changedEvery > 0 && k % changedEvery === 0);
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

interface Run {
  seconds: number;
  stagingSeconds: number | null;
  peakRssMb: number;
  output: string;
}

function vmHwmKb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The built CLI importing `file` into `url`, timed, with its peak RSS. */
async function runImport(url: string, file: string): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'tokens', 'import', file], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let peakKb = 0;
  let stagingSeconds: number | null = null;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    const s = d.toString();
    if (stagingSeconds === null && /writing [\d,]+ tokens/.test(s)) {
      stagingSeconds = (performance.now() - t0) / 1000;
    }
    stderr += s;
  });
  const poll = setInterval(() => {
    const kb = child.pid ? vmHwmKb(child.pid) : null;
    if (kb !== null) peakKb = Math.max(peakKb, kb);
  }, 20);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(poll);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`import of ${file} exited ${code}:\n${stderr}\n${stdout}`);
  return { seconds, stagingSeconds, peakRssMb: peakKb / 1024, output: stdout.trim() };
}

/** The floor: raw COPY of the CSV into an unindexed table with the same columns. */
async function copyFloor(url: string, file: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS floor_copy`);
    await client.query(`CREATE TABLE floor_copy (address text COLLATE "C", symbol text, name text,
      decimals smallint, rank int, volume_24h float8, in_contest boolean, priority_score int,
      is_active boolean)`);
    const t0 = performance.now();
    await pipeline(
      createReadStream(file),
      client.query(copyFrom(`COPY floor_copy FROM STDIN (FORMAT csv, HEADER true)`)),
    );
    const seconds = (performance.now() - t0) / 1000;
    await client.query(`DROP TABLE floor_copy`);
    return seconds;
  } finally {
    await client.end();
  }
}

interface Row {
  rows: number;
  case: string;
  seconds: number;
  stagingSeconds: number | null;
  ratioToFloor: number | null;
  peakRssMb: number | null;
  output: string;
}

async function benchSize(rows: number, dir: string): Promise<Row[]> {
  const file = path.join(dir, `import-${rows}.csv`);
  const changed = path.join(dir, `import-${rows}-changed.csv`);
  await writeCsv(file, rows);
  await writeCsv(changed, rows, 100);
  const mb = statSync(file).size / 1e6;
  try {
    return await withTempDatabase(async (url) => {
      const floor = await copyFloor(url, file);
      const out: Row[] = [
        {
          rows,
          case: `floor: raw COPY of the CSV (${mb.toFixed(0)} MB)`,
          seconds: floor,
          stagingSeconds: null,
          ratioToFloor: 1,
          peakRssMb: null,
          output: '',
        },
      ];
      const cases: [string, string][] = [
        ['import, all rows new', file],
        ['re-import, unchanged', file],
        ['re-import, 1 % changed', changed],
      ];
      for (const [name, f] of cases) {
        const r = await runImport(url, f);
        out.push({
          rows,
          case: name,
          seconds: r.seconds,
          stagingSeconds: r.stagingSeconds,
          ratioToFloor: r.seconds / floor,
          peakRssMb: r.peakRssMb,
          output: r.output,
        });
        console.error(`${rows} ${name}: ${r.seconds.toFixed(1)} s (${r.output})`);
      }
      return out;
    });
  } finally {
    rmSync(file, { force: true });
    rmSync(changed, { force: true });
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'trs-bench-import-'));
  const results: Row[] = [];
  try {
    for (const n of SIZES) results.push(...(await benchSize(n, dir)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ cpus: cpus().length, loadavg: loadavg(), results }, null, 1));
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(
    `\n${pad('rows', 10)}${pad('case', 40)}${pad('wall s', 9)}${pad('stage s', 9)}${pad('x floor', 9)}peak RSS`,
  );
  for (const r of results) {
    console.log(
      pad(r.rows.toLocaleString('en-US'), 10) +
        pad(r.case, 40) +
        pad(r.seconds.toFixed(1), 9) +
        pad(r.stagingSeconds === null ? '' : r.stagingSeconds.toFixed(1), 9) +
        pad(r.ratioToFloor === null ? '' : r.ratioToFloor.toFixed(1), 9) +
        (r.peakRssMb === null ? '' : `${r.peakRssMb.toFixed(0)} MB`),
    );
  }
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
