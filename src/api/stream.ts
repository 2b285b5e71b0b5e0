/**
 * The WebSocket stream `/api/v1/stream`: JSON messages `{ type, ts, ...payload }`.
 *
 * - `status` on connect and then every second (one snapshot serialised once for all clients).
 * - `batch` (result completed|failed), `price` (sampled: at most N per second across the hub),
 *   `circuit` (state open|closed), `rate-limited`, `token:failed`, `token:deactivated`.
 *
 * The scheduler must never wait for a viewer: event handlers serialise once and hand the string
 * to each socket's non-blocking send. A client whose unsent backlog (`bufferedAmount`) passes the
 * threshold (1 MiB) is dropped with close code 1013 ("try again later") and terminated shortly
 * after, so its buffer is freed even if it never reads the close frame. The hub subscribes to the
 * service's events only while at least one client is connected.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { SchedulerEventName, SchedulerEvents } from '../scheduler/types.js';
import type { ApiService } from './types.js';

/** The part of a `ws` WebSocket the hub uses (a fake implements it in tests). */
export interface StreamSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  /** Both end the client's subscription; the error itself is logged by the plugin. */
  on(event: 'close' | 'error', listener: () => void): unknown;
}

export interface StreamOptions {
  /** Status snapshot period, real milliseconds. Default 1000. */
  statusIntervalMs?: number;
  /** Unsent bytes after which a client is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Price messages per second (by the service clock) across the hub; more are dropped. Default 50. */
  maxPriceEventsPerSecond?: number;
  /** Concurrent clients; more are refused with 1013. Default 100. */
  maxClients?: number;
}

const OPEN = 1;
export const CLOSE_TOO_SLOW = 1013;
export const CLOSE_GOING_AWAY = 1001;

export class StreamHub {
  private readonly clients = new Set<StreamSocket>();
  private unsubscribers: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private priceWindow = -1;
  private priceCount = 0;
  private droppedPrices = 0;
  private droppedClients = 0;
  private closed = false;
  private readonly opts: Required<StreamOptions>;

  constructor(
    private readonly service: ApiService,
    opts: StreamOptions = {},
    private readonly log?: FastifyBaseLogger,
  ) {
    this.opts = {
      statusIntervalMs: opts.statusIntervalMs ?? 1000,
      maxBufferedBytes: opts.maxBufferedBytes ?? 1024 * 1024,
      maxPriceEventsPerSecond: opts.maxPriceEventsPerSecond ?? 50,
      maxClients: opts.maxClients ?? 100,
    };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Counters for tests and the status message. */
  get stats(): { clients: number; droppedClients: number; droppedPriceEvents: number } {
    return {
      clients: this.clients.size,
      droppedClients: this.droppedClients,
      droppedPriceEvents: this.droppedPrices,
    };
  }

  /** Registers a connected socket and sends it a status snapshot right away. */
  add(socket: StreamSocket): boolean {
    if (this.closed || this.clients.size >= this.opts.maxClients) {
      socket.close(CLOSE_TOO_SLOW, 'too many stream clients; try again later');
      return false;
    }
    this.clients.add(socket);
    socket.on('close', () => this.remove(socket));
    socket.on('error', () => this.remove(socket));
    if (this.clients.size === 1) this.start();
    const snapshot = this.statusMessage();
    if (snapshot !== null) this.sendTo(socket, snapshot);
    return true;
  }

  private remove(socket: StreamSocket): void {
    if (!this.clients.delete(socket)) return;
    if (this.clients.size === 0) this.stop();
  }

  private start(): void {
    const on = <E extends SchedulerEventName>(
      event: E,
      toMessage: (p: SchedulerEvents[E]) => Record<string, unknown> | null,
    ): void => {
      this.unsubscribers.push(
        this.service.on(event, (payload) => {
          const msg = toMessage(payload);
          if (msg !== null) this.broadcast(msg);
        }),
      );
    };
    on('batch:completed', (e) => ({ type: 'batch', result: 'completed', ...e }));
    on('batch:failed', (e) => ({ type: 'batch', result: 'failed', ...e }));
    on('price:updated', (e) => (this.admitPrice() ? { type: 'price', ...e } : null));
    on('circuit:open', (e) => ({ type: 'circuit', state: 'open', ...e }));
    on('circuit:closed', (e) => ({ type: 'circuit', state: 'closed', retryAt: null, ...e }));
    on('rate-limited', (e) => ({ type: 'rate-limited', ...e }));
    on('token:failed', (e) => ({ type: 'token:failed', ...e }));
    on('token:deactivated', (e) => ({ type: 'token:deactivated', ...e }));
    this.timer = setInterval(() => this.tick(), this.opts.statusIntervalMs);
    this.timer.unref();
  }

  private stop(): void {
    for (const off of this.unsubscribers.splice(0)) off();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends the periodic status snapshot (also callable directly by tests). */
  tick(): void {
    const msg = this.statusMessage();
    if (msg !== null) for (const c of [...this.clients]) this.sendTo(c, msg);
  }

  private admitPrice(): boolean {
    const window = Math.floor(this.service.clock.now() / 1000);
    if (window !== this.priceWindow) {
      this.priceWindow = window;
      this.priceCount = 0;
    }
    if (this.priceCount >= this.opts.maxPriceEventsPerSecond) {
      this.droppedPrices++;
      return false;
    }
    this.priceCount++;
    return true;
  }

  private statusMessage(): string | null {
    try {
      const status = this.service.status();
      return JSON.stringify({
        type: 'status',
        ts: this.service.clock.now(),
        ...status,
        stream: this.stats,
      });
    } catch (err) {
      this.log?.error({ err }, 'stream: status snapshot failed');
      return null;
    }
  }

  private broadcast(msg: Record<string, unknown>): void {
    if (this.clients.size === 0) return;
    const { type, ...rest } = msg;
    const data = JSON.stringify({ type, ts: this.service.clock.now(), ...rest });
    for (const c of [...this.clients]) this.sendTo(c, data);
  }

  private sendTo(socket: StreamSocket, data: string): void {
    if (socket.readyState !== OPEN) return;
    if (socket.bufferedAmount > this.opts.maxBufferedBytes) {
      this.drop(socket);
      return;
    }
    try {
      socket.send(data);
    } catch (err) {
      this.log?.debug({ err }, 'stream: send failed');
      this.remove(socket);
    }
  }

  private drop(socket: StreamSocket): void {
    this.droppedClients++;
    this.remove(socket);
    this.log?.warn(
      { bufferedBytes: socket.bufferedAmount },
      'stream: dropping a client that does not keep up',
    );
    try {
      socket.close(CLOSE_TOO_SLOW, 'client too slow; reconnect');
    } catch {
      /* already closing */
    }
    // A client that does not read will not read the close frame either: free its buffer.
    setTimeout(() => socket.terminate(), 1000).unref();
  }

  /** Closes every client (server shutdown) and detaches from the service. */
  close(): void {
    this.closed = true;
    for (const c of [...this.clients]) {
      try {
        c.close(CLOSE_GOING_AWAY, 'server shutting down');
      } catch {
        /* ignore */
      }
    }
    this.clients.clear();
    this.stop();
  }
}
