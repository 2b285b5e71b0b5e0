/**
 * One process per embedded data directory.
 *
 * PGlite is Postgres in WASM inside *this* process: two processes opening the same directory each
 * run their own Postgres on the same files, and whatever the second one writes is lost or
 * corrupts the first (seen: `tokens import` while `start` runs printed "1 new", and the token was
 * gone after the service stopped). So the store takes `<dataDir>/.token-refresh.lock`, created
 * with O_EXCL ('wx'), holding the owner's pid, host, start time and command:
 *
 *  - the file exists and its pid is alive on this host (this process included: two stores on one
 *    directory in one process are just as broken) → DataDirLockedError, at once;
 *  - the pid is dead (the owner crashed or was killed -9) → the stale lock is taken over, with a
 *    process warning;
 *  - written from another host (a shared volume): liveness cannot be checked → locked;
 *  - unreadable and younger than 10 s: another process is writing it right now → locked;
 *    older → stale.
 *
 * Released on close, and on process exit if close never ran.
 */
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export const LOCK_FILE_NAME = '.token-refresh.lock';
/** A lock file this young that cannot be parsed is being written by its owner (not stale). */
const FRESH_UNREADABLE_MS = 10_000;

export interface LockOwner {
  pid: number;
  hostname: string;
  /** Epoch ms when the owner took the lock. */
  startedAt: number;
  /** The owner's command, e.g. `token-refresh start` (command words only, never flag values). */
  command: string;
}

/** The embedded data directory is in use by another live process (or another store here). */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner | null,
    readonly lockFile: string,
  ) {
    const who =
      owner === null
        ? 'another process (its lock file is being written)'
        : `pid ${owner.pid}${owner.hostname === hostname() ? '' : ` on ${owner.hostname}`} ` +
          `(${owner.command}, since ${new Date(owner.startedAt).toISOString()})`;
    super(
      `the embedded database at ${dataDir} is in use by ${who}; stop that process first, ` +
        `or set DATABASE_URL to share one PostgreSQL between several processes` +
        (owner !== null && owner.hostname !== hostname()
          ? ` (if that host no longer runs it, delete ${lockFile})`
          : ''),
    );
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Deletes the lock file if it is still ours. Idempotent. */
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.hostname !== 'string') return null;
    return {
      pid: o.pid,
      hostname: o.hostname,
      startedAt: typeof o.startedAt === 'number' ? o.startedAt : 0,
      command: typeof o.command === 'string' ? o.command : 'unknown command',
    };
  } catch {
    return null;
  }
}

/** `token-refresh start`, `token-refresh tokens import`: the script name and its command words. */
function describeCommand(): string {
  const script = path.basename(process.argv[1] ?? 'node').replace(/\.(c|m)?js$/, '');
  const words: string[] = [];
  for (const a of process.argv.slice(2, 4)) {
    if (!/^[a-z][a-z-]*$/.test(a)) break;
    words.push(a);
  }
  return [script === 'main' ? 'token-refresh' : script, ...words].join(' ');
}

/**
 * Take the lock on `dataDir` (which must exist) or throw DataDirLockedError.
 * `warn` hears about a stale lock taken over (default: a process warning).
 */
export function lockDataDir(
  dataDir: string,
  warn: (message: string) => void = (m) => process.emitWarning(m, 'DataDirLockWarning'),
): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE_NAME);
  const me: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: Date.now(),
    command: describeCommand(),
  };
  const text = JSON.stringify(me) + '\n';
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, text, { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(file);
    let stale: string | null = null;
    if (owner === null) {
      const age = Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age >= FRESH_UNREADABLE_MS) stale = 'an unreadable lock file';
    } else if (owner.hostname === me.hostname && !isAlive(owner.pid)) {
      stale = `a stale lock of pid ${owner.pid} (${owner.command}), which is no longer running`;
    }
    // Two takers of one stale lock: each deletes and retries once; 'wx' lets only one win.
    if (stale === null || attempt > 0) throw new DataDirLockedError(dataDir, owner, file);
    warn(`embedded database at ${dataDir}: taking over ${stale}`);
    try {
      unlinkSync(file);
    } catch {
      // someone else removed it first; the retry decides
    }
  }

  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readFileSync(file, 'utf8') === text) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return { file, release };
}
