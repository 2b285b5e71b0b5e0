/**
 * `tokens import FILE`, `tokens list` and `analyze`: commands that read or write the token table
 * without running the scheduler.
 */
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { flagName, isPlanName, loadConfig } from '../config.js';
import type { Store, TokenSortField } from '../store/types.js';
import { systemClock } from '../core/clock.js';
import { PLANS, type TokenWithState } from '../core/types.js';
import { buildAnalysisReport } from '../core/analysis-report.js';
import { formatAnalysis } from './analyze-format.js';
import { formatHistory, parseTimeBound } from './history-format.js';
import { isMintAddress } from '../sources/index.js';
import { MAX_HISTORY_LIMIT } from '../store/types.js';
import { ImportError } from './import-file.js';
import { readTokenFile } from './import-stream.js';
import { ImportRowError } from '../store/import-tokens.js';
import { TOKEN_SORT_FIELDS } from '../api/validation.js';
import { parsePositiveInt, UsageError } from './util.js';

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const { openStore } = await import('../store/index.js');
  const store = await openStore({ databaseUrl: config.databaseUrl ?? undefined, dataDir: config.dataDir });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Import progress on stderr: a one-line bar on a TTY (bytes read of the file), otherwise a count
 * line every PROGRESS_EVERY_MS, so a long import in a log shows it is alive.
 */
const PROGRESS_EVERY_MS = 5_000;
function importProgress(size: number): {
  bytes(n: number): void;
  rows(phase: 'staging' | 'writing', n: number): void;
  done(): void;
} {
  const tty = process.stderr.isTTY === true;
  let read = 0;
  let count = 0;
  let phase: 'staging' | 'writing' = 'staging';
  let drawnAt = 0;
  const line = (): string =>
    phase === 'writing'
      ? `writing ${count.toLocaleString('en-US')} tokens in one transaction…`
      : `read ${count.toLocaleString('en-US')} rows` +
        (size > 0 ? ` (${Math.floor((100 * read) / size)} %)` : '');
  const draw = (): void => {
    if (tty) process.stderr.write(`\r${line()}\x1b[K`);
  };
  const timer = tty
    ? null
    : setInterval(() => process.stderr.write(`import: ${line()}\n`), PROGRESS_EVERY_MS);
  timer?.unref();
  return {
    bytes(n) {
      read = n;
    },
    rows(p, n) {
      phase = p;
      count = n;
      const now = Date.now();
      if (p === 'writing' || now - drawnAt > 100) {
        drawnAt = now;
        draw();
        if (!tty && p === 'writing') process.stderr.write(`import: ${line()}\n`);
      }
    },
    done() {
      if (timer) clearInterval(timer);
      if (tty) process.stderr.write('\n');
    },
  };
}

const SORTS: readonly TokenSortField[] = TOKEN_SORT_FIELDS;

export function registerDataCommands(program: Command): void {
  const tokens = program.command('tokens').description('manage the token table');

  tokens
    .command('import')
    .description('import tokens from CSV (header row) or a JSON array; one transaction, all or nothing')
    .argument('<file>', 'path to a .csv or .json file')
    .option('--format <format>', 'csv|json (default: from the file extension)')
    .action(async (file: string, o: { format?: string }) => {
      const format = (o.format ?? (extname(file).toLowerCase() === '.json' ? 'json' : 'csv')) as
        'csv' | 'json';
      if (format !== 'csv' && format !== 'json')
        throw new UsageError(`--format: expected csv or json, got ${String(o.format)}`);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile()) throw new UsageError(`${file}: no such file`);
      const report = importProgress(info.size);
      const rows = readTokenFile(file, format, {
        onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
        onBytes: (b) => report.bytes(b),
      });
      const r = await withStore((store) =>
        store.importTokens(rows, systemClock.now(), { onProgress: (e) => report.rows(e.phase, e.rows) }),
      )
        .catch((err: unknown) => {
          if (err instanceof ImportRowError)
            throw new ImportError(err.line, err.message.replace(/^line \d+: /, ''));
          throw err;
        })
        .finally(() => report.done());
      if (!r.rows) throw new UsageError(`${file}: no token rows`);
      process.stdout.write(
        `imported ${r.rows} tokens: ${r.inserted} new, ${r.updated} changed, ${r.rows - r.inserted - r.updated} unchanged, ${r.rankHistoryRows} rank history rows\n`,
      );
    });

  tokens
    .command('list')
    .description('list tokens with their current price')
    .option('--limit <n>', 'rows', '50')
    .option('--offset <n>', 'rows to skip', '0')
    .option('--sort <field>', `one of ${SORTS.join(', ')}`, 'rank')
    .option('--order <order>', 'asc|desc', 'asc')
    .option('--search <text>', 'substring of address, symbol or name')
    .option('--json', 'print JSON')
    .action(
      async (o: {
        limit: string;
        offset: string;
        sort: string;
        order: string;
        search?: string;
        json?: boolean;
      }) => {
        const limit = parsePositiveInt(o.limit, '--limit', 1, 10_000);
        const offset = parsePositiveInt(o.offset, '--offset', 0, Number.MAX_SAFE_INTEGER);
        if (!SORTS.includes(o.sort as TokenSortField))
          throw new UsageError(`--sort: expected one of ${SORTS.join(', ')}`);
        if (o.order !== 'asc' && o.order !== 'desc') throw new UsageError('--order: expected asc or desc');
        const res = await withStore((s) =>
          s.listTokens({
            limit,
            offset,
            sort: o.sort as TokenSortField,
            order: o.order as 'asc',
            search: o.search,
          }),
        );
        if (o.json) {
          process.stdout.write(JSON.stringify(res) + '\n');
          return;
        }
        const rows = res.tokens.map((t) => [
          t.address,
          t.symbol ?? '',
          t.rank === null ? '-' : String(t.rank),
          t.price === null ? '-' : t.price.toPrecision(8),
          t.price_updated_at === null ? '-' : new Date(t.price_updated_at).toISOString(),
          t.is_active ? 'yes' : 'no',
        ]);
        const header = ['address', 'symbol', 'rank', 'price', 'updated', 'active'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
        process.stdout.write(
          [fmt(header), ...rows.map(fmt), `(${res.tokens.length} of ${res.total})`].join('\n') + '\n',
        );
      },
    );

  tokens
    .command('history')
    .description("a token's price history, newest first (a row whenever its price changed)")
    .argument('<address>', 'base58 mint address')
    .option('--from <time>', 'inclusive lower bound: epoch ms or ISO date/time')
    .option(
      '--to <time>',
      'exclusive upper bound: epoch ms or ISO date/time (the next page: the printed cursor)',
    )
    .option('--limit <n>', `rows, 1..${MAX_HISTORY_LIMIT}`, '50')
    .option('--json', 'print JSON { address, points: [{ t, price, source }], next }')
    .action(async (address: string, o: { from?: string; to?: string; limit: string; json?: boolean }) => {
      if (!isMintAddress(address))
        throw new UsageError(`${address}: not a base58 mint address (32–44 characters)`);
      const limit = parsePositiveInt(o.limit, '--limit', 1, MAX_HISTORY_LIMIT);
      const from = o.from === undefined ? undefined : parseTimeBound(o.from, '--from');
      const to = o.to === undefined ? undefined : parseTimeBound(o.to, '--to');
      const page = await withStore(async (store) => {
        const token = await store.getToken(address);
        if (!token) return null;
        return store.getPriceHistory(token.id, { from, to, limit });
      });
      if (page === null) throw new UsageError(`${address}: no such token (import it first)`);
      const next = page.length === limit ? page[page.length - 1]!.t : null;
      process.stdout.write(
        (o.json ? JSON.stringify({ address, points: page, next }) : formatHistory(address, page, next)) +
          '\n',
      );
    });

  program
    .command('analyze')
    .description('token distribution, per-tier recommendations and projected freshness per plan')
    .option('--plan <plan>', `one of ${Object.keys(PLANS).join('|')} (default: TOKEN_REFRESH_PLAN)`)
    .option('--json', 'print JSON')
    .action(async (o: { plan?: string; json?: boolean }) => {
      if (o.plan !== undefined && !isPlanName(o.plan)) {
        throw new UsageError(`--plan: expected one of ${Object.keys(PLANS).join(', ')}, got ${o.plan}`);
      }
      const config = loadConfig(process.env, { plan: o.plan }, flagName);
      const report = await withStore(async (store) => {
        const attrs: (TokenWithState & {
          lastPriceChangeAt: number | null;
          sigma: number | null;
          sigmaSamples: number;
        })[] = [];
        for await (const page of store.loadActiveTokens()) {
          for (const t of page)
            attrs.push({
              ...t,
              lastPriceChangeAt: t.last_price_change,
              sigma: t.schedule?.sigma ?? null,
              sigmaSamples: t.schedule?.sigmaSamples ?? 0,
            });
        }
        return buildAnalysisReport(attrs, {
          planName: config.plan,
          requestsPerMinute: o.plan ? PLANS[config.plan] : config.requestsPerMinute,
          maxBatchSize: config.maxBatchSize,
          minIntervalSeconds: config.minIntervalSeconds,
          deviation: config.deviation,
          now: systemClock.now(),
        });
      });
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatAnalysis(report) + '\n');
    });
}
