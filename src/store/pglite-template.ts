/**
 * Migrated-template cache for in-memory PGlite (`memory://`, used by tests and the demo).
 *
 * A fresh in-memory PGlite runs initdb inside WASM: 6-14 s on a loaded 2-core machine, once per
 * test file. Loading a dumped data dir skips initdb (~3-4 s, mostly the WASM start). The first
 * open dumps the freshly migrated database to the OS temp dir, keyed by the migrations' content;
 * later opens load it. The file is written under a temporary name and renamed, so concurrent test
 * workers never read a partial dump; a dump that fails to load is deleted and rebuilt.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Migration } from './migrate.js';

export function templatePath(migrations: readonly Migration[]): string {
  const key = createHash('sha256')
    .update(migrations.map((m) => `${m.version}:${m.checksum}`).join(','))
    .digest('hex')
    .slice(0, 16);
  return path.join(tmpdir(), `trs-pglite-template-${key}.tar.gz`);
}

/** Open an in-memory PGlite from the cached template, or null when there is none (or it is bad). */
export async function openFromTemplate(file: string): Promise<PGlite | null> {
  if (!existsSync(file)) return null;
  try {
    return await PGlite.create({ loadDataDir: new Blob([readFileSync(file)]) });
  } catch {
    try {
      unlinkSync(file);
    } catch {
      // another process removed it first
    }
    return null;
  }
}

/** Dump a freshly migrated database as the template (best effort; errors are ignored). */
export async function saveTemplate(db: PGlite, file: string): Promise<void> {
  try {
    const dump = await db.dumpDataDir('gzip');
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, file);
  } catch {
    // the cache is an optimisation only
  }
}
