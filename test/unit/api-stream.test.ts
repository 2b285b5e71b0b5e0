import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { CLOSE_TOO_SLOW, StreamHub, type StreamSocket } from '../../src/api/stream.js';
import { FakeService, FakeStore, T0 } from './api-helpers.js';

/** A socket double: records what was sent; `bufferedAmount` is set by the test. */
class FakeSocket implements StreamSocket {
  readyState = 1;
  bufferedAmount = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: { code?: number; reason?: string } | null = null;
  terminated = false;
  private readonly handlers: Record<string, Array<() => void>> = {};
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
  on(event: string, fn: () => void): this {
    (this.handlers[event] ??= []).push(fn);
    return this;
  }
  /** The peer went away. */
  fireClose(): void {
    this.readyState = 3;
    for (const fn of this.handlers['close'] ?? []) fn();
  }
  types(): unknown[] {
    return this.sent.map((m) => m['type']);
  }
}

const batch = { size: 50, updated: 48, changed: 10, failed: 2, durationMs: 120, at: T0 };

describe('StreamHub (fake sockets, manual clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a status snapshot on connect, stamped with the service clock', () => {
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service);
    const s = new FakeSocket();
    service.clock.advance(1234);
    hub.add(s);
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ type: 'status', ts: T0 + 1234, running: true, tokens: { due: 2 } });
    hub.close();
  });

  it('forwards batch, price, circuit, rate-limited and token:failed events as {type, ts, ...payload}', () => {
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service);
    const s = new FakeSocket();
    hub.add(s);
    service.clock.advance(500);
    service.emit('batch:completed', batch);
    service.emit('batch:failed', {
      size: 50,
      errorType: 'RateLimitedError',
      message: '429',
      durationMs: 5,
      at: T0,
    });
    service.emit('price:updated', {
      address: 'A',
      tokenId: 1,
      oldPrice: 1,
      newPrice: 2,
      source: 'jupiter-v3',
      at: T0,
    });
    service.emit('circuit:open', { at: T0, retryAt: T0 + 30_000 });
    service.emit('circuit:closed', { at: T0 + 30_000 });
    service.emit('rate-limited', { at: T0, resetAt: T0 + 1000 });
    service.emit('token:failed', {
      address: 'A',
      tokenId: 1,
      reason: 'missing',
      consecutiveFailures: 3,
      retryAt: T0 + 8000,
      at: T0,
    });
    expect(s.types()).toEqual([
      'status',
      'batch',
      'batch',
      'price',
      'circuit',
      'circuit',
      'rate-limited',
      'token:failed',
    ]);
    expect(s.sent[1]).toEqual({ type: 'batch', ts: T0 + 500, result: 'completed', ...batch });
    expect(s.sent[2]).toMatchObject({ result: 'failed', errorType: 'RateLimitedError' });
    expect(s.sent[3]).toMatchObject({ type: 'price', newPrice: 2, oldPrice: 1 });
    expect(s.sent[4]).toMatchObject({ type: 'circuit', state: 'open', retryAt: T0 + 30_000 });
    expect(s.sent[5]).toMatchObject({ type: 'circuit', state: 'closed' });
    expect(s.sent[7]).toMatchObject({ type: 'token:failed', consecutiveFailures: 3 });
    hub.close();
  });

  it('samples price events to at most N per second of the service clock', () => {
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service, { maxPriceEventsPerSecond: 3 });
    const s = new FakeSocket();
    hub.add(s);
    const price = (i: number) =>
      service.emit('price:updated', {
        address: `A${i}`,
        tokenId: i,
        oldPrice: 1,
        newPrice: 2,
        source: 'x',
        at: T0,
      });
    for (let i = 0; i < 10; i++) price(i);
    expect(s.types().filter((t) => t === 'price')).toHaveLength(3);
    expect(hub.stats.droppedPriceEvents).toBe(7);
    service.clock.advance(1000);
    for (let i = 0; i < 10; i++) price(i);
    expect(s.types().filter((t) => t === 'price')).toHaveLength(6);
    // Other event types are never sampled away.
    for (let i = 0; i < 10; i++) service.emit('batch:completed', batch);
    expect(s.types().filter((t) => t === 'batch')).toHaveLength(10);
    hub.close();
  });

  it('drops a client whose unsent backlog passes the threshold (1013), keeps serving the others, then terminates it', () => {
    vi.useFakeTimers();
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service, { maxBufferedBytes: 1024 });
    const slow = new FakeSocket();
    const fast = new FakeSocket();
    hub.add(slow);
    hub.add(fast);
    service.emit('batch:completed', batch);
    slow.bufferedAmount = 4096;
    service.emit('batch:completed', batch);
    service.emit('batch:completed', batch);
    expect(slow.closedWith?.code).toBe(CLOSE_TOO_SLOW);
    expect(slow.sent).toHaveLength(2); // snapshot + the first batch, nothing after it fell behind
    expect(fast.sent).toHaveLength(4);
    expect(hub.clientCount).toBe(1);
    expect(hub.stats.droppedClients).toBe(1);
    expect(slow.terminated).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(slow.terminated).toBe(true);
    hub.close();
  });

  it('sends a status snapshot every second while clients are connected', () => {
    vi.useFakeTimers();
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service);
    const s = new FakeSocket();
    hub.add(s);
    vi.advanceTimersByTime(3000);
    expect(s.types()).toEqual(['status', 'status', 'status', 'status']);
    s.fireClose();
    vi.advanceTimersByTime(3000);
    expect(s.sent).toHaveLength(4);
    hub.close();
  });

  it('subscribes to service events only while clients are connected, and unsubscribes on close', () => {
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service);
    expect(service.listenerCount()).toBe(0);
    const a = new FakeSocket();
    const b = new FakeSocket();
    hub.add(a);
    const subscribed = service.listenerCount();
    expect(subscribed).toBeGreaterThanOrEqual(7);
    hub.add(b);
    expect(service.listenerCount()).toBe(subscribed);
    a.fireClose();
    expect(service.listenerCount()).toBe(subscribed);
    b.fireClose();
    expect(service.listenerCount()).toBe(0);
    expect(hub.clientCount).toBe(0);
  });

  it('refuses clients over the limit', () => {
    const service = new FakeService(new FakeStore());
    const hub = new StreamHub(service, { maxClients: 1 });
    const a = new FakeSocket();
    const b = new FakeSocket();
    expect(hub.add(a)).toBe(true);
    expect(hub.add(b)).toBe(false);
    expect(b.closedWith?.code).toBe(CLOSE_TOO_SLOW);
    hub.close();
    expect(a.closedWith?.code).toBe(1001);
    expect(service.listenerCount()).toBe(0);
  });
});

// --- a real listening server and a real WebSocket client -------------------------------------

interface WsClient {
  readyState: number;
  on(event: 'message', fn: (data: Buffer) => void): void;
  on(event: 'open', fn: () => void): void;
  on(event: 'close', fn: (code: number) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  on(event: 'unexpected-response', fn: (req: unknown, res: { statusCode: number }) => void): void;
  close(): void;
  terminate(): void;
  _socket: { pause(): void; resume(): void };
}
type WsCtor = new (url: string, opts?: { headers?: Record<string, string> }) => WsClient;
// `ws` ships with @fastify/websocket; it has no bundled types, so type the little we use.
const WebSocket = createRequire(import.meta.url)('ws') as WsCtor;

function connect(
  url: string,
  headers?: Record<string, string>,
): Promise<{ ws: WsClient; messages: Array<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    ws.on('open', () => resolve({ ws, messages }));
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
    if (i > 100) await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('WebSocket /api/v1/stream on a real server', () => {
  let server: RunningApiServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('streams the snapshot and events to a client, and detaches from the service when it leaves', async () => {
    const service = new FakeService(new FakeStore());
    server = await startApiServer(service, { host: '127.0.0.1', port: 0, logger: false });
    const baseline = service.listenerCount(); // the metrics' own subscriptions
    const { ws, messages } = await connect(`${server.url.replace('http', 'ws')}/api/v1/stream`);
    await until(() => messages.length >= 1, 'status snapshot');
    expect(messages[0]).toMatchObject({ type: 'status', ts: T0 });
    expect(service.listenerCount()).toBeGreaterThan(baseline);
    service.emit('batch:completed', batch);
    await until(() => messages.some((m) => m['type'] === 'batch'), 'batch message');
    expect(messages.find((m) => m['type'] === 'batch')).toMatchObject({ updated: 48, result: 'completed' });
    ws.close();
    await until(() => server!.app.streamHub.clientCount === 0, 'client removal');
    expect(service.listenerCount()).toBe(baseline);
  });

  it('drops a client that stops reading while events flood in; the emitter never blocks', async () => {
    const service = new FakeService(new FakeStore());
    server = await startApiServer(service, {
      host: '127.0.0.1',
      port: 0,
      logger: false,
      stream: { maxBufferedBytes: 256 * 1024 },
    });
    const { ws, messages } = await connect(`${server.url.replace('http', 'ws')}/api/v1/stream`);
    await until(() => messages.length >= 1, 'status snapshot');
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws._socket.pause();
    const reason = 'x'.repeat(64 * 1024);
    // 400 × 64 KiB = 25 MiB: far more than the kernel's socket buffers absorb.
    for (let i = 0; i < 400 && server.app.streamHub.clientCount > 0; i++) {
      service.emit('token:failed', {
        address: 'A',
        tokenId: i,
        reason,
        consecutiveFailures: 1,
        retryAt: T0,
        at: T0,
      });
      await new Promise((r) => setImmediate(r)); // let the socket flush what the kernel takes
    }
    expect(server.app.streamHub.stats.droppedClients).toBe(1);
    expect(server.app.streamHub.clientCount).toBe(0);
    ws._socket.resume();
    const code = await closed;
    expect([CLOSE_TOO_SLOW, 1006]).toContain(code);
  });

  it('refuses a cross-origin WebSocket and answers a plain GET with a JSON 426', async () => {
    const service = new FakeService(new FakeStore());
    server = await startApiServer(service, { host: '127.0.0.1', port: 0, logger: false });
    await expect(
      connect(`${server.url.replace('http', 'ws')}/api/v1/stream`, { origin: 'https://evil.example' }),
    ).rejects.toThrow('HTTP 403');
    const res = await fetch(`${server.url}/api/v1/stream`);
    expect(res.status).toBe(426);
    expect(await res.json()).toMatchObject({ error: 'upgrade_required' });
    const same = await connect(`${server.url.replace('http', 'ws')}/api/v1/stream`, { origin: server.url });
    same.ws.close();
  });
});
