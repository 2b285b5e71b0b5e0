/**
 * Admin authentication for mutating routes, and the start-up guard that refuses to expose them
 * unauthenticated.
 *
 * - With an admin token: `Authorization: Bearer <token>` is required. Missing (or another scheme)
 *   → 401, wrong → 403. The comparison hashes both sides to equal-length SHA-256 digests and uses
 *   crypto.timingSafeEqual, so neither the content nor the length of the token leaks by timing.
 * - Without one: mutating routes work only when the server is bound to loopback, only for
 *   requests whose Host header is a loopback name (a DNS-rebinding page cannot reach them), and
 *   never for requests that carry proxy headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`):
 *   a reverse proxy on the same host connects from 127.0.0.1 and may pass `Host: localhost`, so
 *   the loopback checks alone would open the admin routes to whatever the proxy forwards. Any
 *   proxied or shared deployment needs the admin token.
 * - Always: a browser request from another origin (Origin header ≠ Host) is refused, so a web page
 *   cannot POST /scheduler/pause as a "simple" cross-site request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from './errors.js';

/** Thrown at start-up when the API would expose admin routes to the network without a token. */
export class UnsafeBindingError extends Error {
  constructor(readonly host: string) {
    super(
      `refusing to serve the admin API on non-loopback HOST=${host} without an admin token: ` +
        'set TOKEN_REFRESH_ADMIN_TOKEN (a long random string), or bind HOST=127.0.0.1',
    );
    this.name = 'UnsafeBindingError';
  }
}

/** Strips brackets and an IPv4-mapped prefix; lower-cases. */
function normaliseHostname(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.startsWith('::ffff:')) h = h.slice('::ffff:'.length);
  return h;
}

/** True for names/addresses that only this machine can reach. `0.0.0.0` and `::` are not. */
export function isLoopbackHost(host: string): boolean {
  const h = normaliseHostname(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Treats an empty or blank token as "not configured". */
export function normaliseAdminToken(token: string | undefined | null): string | undefined {
  if (token === undefined || token === null) return undefined;
  return token.trim() === '' ? undefined : token;
}

/** Throws UnsafeBindingError when binding to a non-loopback host without an admin token. */
export function assertSafeBinding(host: string, adminToken: string | undefined | null): void {
  if (normaliseAdminToken(adminToken) === undefined && !isLoopbackHost(host)) {
    throw new UnsafeBindingError(host);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of a presented token against the configured one. */
export function tokensMatch(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digest(presented), expectedDigest);
}

/** Hostname part of a Host header value (`[::1]:8080` → `::1`, `a.b:80` → `a.b`). */
export function hostnameOfHostHeader(hostHeader: string): string {
  const v = hostHeader.trim();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end > 0 ? v.slice(1, end) : v;
  }
  const colon = v.lastIndexOf(':');
  return colon >= 0 && v.indexOf(':') === colon ? v.slice(0, colon) : v;
}

/** True when an Origin header is present and names another host than the request's Host. */
export function isCrossOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  const host = req.headers.host;
  if (!host) return true;
  try {
    return new URL(origin).host.toLowerCase() !== host.toLowerCase();
  } catch {
    return true; // "null" or garbage: treat as foreign
  }
}

/** Headers a reverse proxy adds; their presence (even empty) marks a request as forwarded. */
export const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** The first proxy header the request carries, or null. */
export function proxyHeaderOf(req: Pick<FastifyRequest, 'headers'>): string | null {
  return PROXY_HEADERS.find((h) => req.headers[h] !== undefined) ?? null;
}

export interface AdminGuardOptions {
  adminToken?: string;
  /** The host the server is bound to. */
  host: string;
}

/** Builds the onRequest hook that protects mutating routes. */
export function createAdminGuard(
  opts: AdminGuardOptions,
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const token = normaliseAdminToken(opts.adminToken);
  const expected = token === undefined ? null : digest(token);
  const boundToLoopback = isLoopbackHost(opts.host);

  return async (req) => {
    if (isCrossOrigin(req)) {
      throw new ForbiddenError('cross-origin admin requests are refused; call the API directly');
    }
    if (expected === null) {
      if (!boundToLoopback) {
        throw new ForbiddenError(
          'admin routes are disabled: no admin token is configured; set TOKEN_REFRESH_ADMIN_TOKEN',
        );
      }
      const proxied = proxyHeaderOf(req);
      if (proxied !== null) {
        throw new ForbiddenError(
          `without an admin token, admin routes refuse proxied requests (${proxied} header present); ` +
            'set TOKEN_REFRESH_ADMIN_TOKEN to use them through a proxy',
        );
      }
      if (!isLoopbackHost(hostnameOfHostHeader(req.headers.host ?? ''))) {
        throw new ForbiddenError(
          'without an admin token, admin routes answer only to a loopback Host (localhost, 127.0.0.1)',
        );
      }
      return;
    }
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      throw new UnauthorizedError(
        'this route needs an admin token: send `Authorization: Bearer <TOKEN_REFRESH_ADMIN_TOKEN>`',
      );
    }
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    if (!match) {
      throw new UnauthorizedError(
        'unsupported Authorization scheme: send `Authorization: Bearer <TOKEN_REFRESH_ADMIN_TOKEN>`',
      );
    }
    if (!tokensMatch(match[1]!, expected)) {
      req.log.warn({ event: 'admin_auth_failed' }, 'admin token rejected');
      throw new ForbiddenError('the admin token is not valid for this server');
    }
  };
}
