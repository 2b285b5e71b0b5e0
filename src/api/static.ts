/**
 * The dashboard's static files. They ship in the package's `public/` folder, two levels above
 * this module both in `src/api/` (tsx, vitest) and in `dist/api/` (compiled). Only the files in
 * an explicit allow-list are served, read once into memory at start-up: no path from the URL ever
 * reaches the file system, so there is nothing to traverse.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from './errors.js';

export const DEFAULT_PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'public');

/**
 * The chart library is uPlot (MIT, 51 KB minified, canvas, fast for thousands of points), served
 * from the installed `uplot` dependency so the page works offline and never touches a CDN.
 * Resolved through Node's resolver: it is a sibling or a hoisted copy in node_modules.
 */
function uplotFile(name: string): string | null {
  try {
    return createRequire(import.meta.url).resolve(`uplot/dist/${name}`);
  } catch {
    return null;
  }
}

/** URL path → file (a name in public/, or an absolute path) and content type. */
const FILES: Record<string, { file: string | null; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' },
  '/token-view.js': { file: 'token-view.js', type: 'text/javascript; charset=utf-8' },
  '/cluster-view.js': { file: 'cluster-view.js', type: 'text/javascript; charset=utf-8' },
  '/cluster-rows.js': { file: 'cluster-rows.js', type: 'text/javascript; charset=utf-8' },
  '/format.js': { file: 'format.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  '/vendor/uPlot.iife.min.js': {
    file: uplotFile('uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': { file: uplotFile('uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/**
 * Same-origin only: scripts, styles and fetch/WebSocket go to this server and nowhere else
 * ('self' covers ws:/wss: to the same host in CSP Level 3). No inline script, no framing.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface LoadedFile {
  body: Buffer;
  type: string;
}

async function loadFiles(dir: string): Promise<Map<string, LoadedFile>> {
  const out = new Map<string, LoadedFile>();
  await Promise.all(
    Object.entries(FILES).map(async ([url, { file, type }]) => {
      if (file === null) return; // uplot not installed: 404 below, the page draws no charts
      try {
        out.set(url, { body: await readFile(isAbsolute(file) ? file : join(dir, file)), type });
      } catch {
        /* optional file (favicon) or a broken install: answered as 404 below */
      }
    }),
  );
  return out;
}

/** Registers GET routes for the dashboard files. */
export async function registerDashboard(app: FastifyInstance, publicDir = DEFAULT_PUBLIC_DIR): Promise<void> {
  const files = await loadFiles(publicDir);
  if (!files.has('/')) {
    app.log.warn({ publicDir }, 'dashboard files not found; GET / will answer 404');
  }
  for (const url of Object.keys(FILES)) {
    app.get(url, async (_req, reply) => {
      const f = files.get(url);
      if (!f)
        throw new NotFoundError(`dashboard file ${url} is not installed (public/ missing from the package)`);
      return reply
        .header('content-type', f.type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', DASHBOARD_CSP)
        .send(f.body);
    });
  }
}
