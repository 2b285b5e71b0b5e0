/**
 * Numbered SQL migrations (`migrations/NNNN_name.sql` at the package root), applied in order.
 *
 * All pending files run in ONE transaction that first takes pg_advisory_xact_lock(MIGRATION_LOCK):
 * a second migrator (another process, or a concurrent call) blocks on the lock, then sees the
 * versions the first one recorded and applies nothing. The lock is released by COMMIT/ROLLBACK,
 * so a crashed migrator never leaves it held. Applied versions live in `schema_migrations`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executor, Queryable } from './executor.js';

/** Arbitrary constant key ("trs-migr" in ASCII, fits in a signed bigint). */
export const MIGRATION_LOCK_KEY = '8390895694691002226';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Find `migrations/` by walking up from this module to the package root. Works from `src/store/`
 * (tsx, vitest) and from `dist/store/` (after tsc), and from node_modules/<pkg>/dist/store/.
 */
export function findMigrationsDir(fromUrl: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(fromUrl));
  for (;;) {
    const candidate = path.join(dir, 'migrations');
    if (
      existsSync(path.join(dir, 'package.json')) &&
      existsSync(candidate) &&
      statSync(candidate).isDirectory()
    ) {
      return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `migrations directory not found above ${fileURLToPath(fromUrl)}; ` +
          'the package must ship its migrations/ folder next to package.json (or pass migrationsDir).',
      );
    }
    dir = parent;
  }
}

export function loadMigrations(dir: string = findMigrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file ${file} in ${dir} must be named NNNN_snake_name.sql`);
    const sql = readFileSync(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.some((x) => x.version === version))
      throw new Error(`duplicate migration version ${m[1]} in ${dir}`);
    out.push({ version, name: m[2], sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  if (out.length === 0) throw new Error(`no migrations found in ${dir}`);
  return out;
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL
)`;

async function appliedVersions(q: Queryable): Promise<Set<number>> {
  const res = await q.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return new Set(res.rows.map((r) => Number(r.version)));
}

/** Apply pending migrations; returns the versions applied by this call. */
export async function runMigrations(
  exec: Executor,
  migrations: Migration[],
  nowMs: number,
): Promise<number[]> {
  return exec.transaction(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await q.exec(CREATE_TABLE);
    const done = await appliedVersions(q);
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await q.exec(m.sql);
      await q.query(
        'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000.0))',
        [m.version, m.name, m.checksum, nowMs],
      );
      applied.push(m.version);
    }
    return applied;
  });
}

/** True when schema_migrations exists and holds every known version. */
export async function allMigrationsApplied(q: Queryable, migrations: Migration[]): Promise<boolean> {
  const t = await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!t.rows[0]?.t) return false;
  const done = await appliedVersions(q);
  return migrations.every((m) => done.has(m.version));
}
