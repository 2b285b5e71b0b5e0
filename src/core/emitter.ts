/**
 * A tiny typed event emitter (the scheduler's and the price client's). Listener exceptions are
 * caught and reported through `onError`, so a faulty subscriber can never break the scheduler's
 * cycle or a price request.
 */
export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  constructor(private readonly onError: (err: unknown, event: keyof Events) => void = () => {}) {}

  on<E extends keyof Events>(event: E, fn: (payload: Events[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (payload: never) => void);
    return () => this.off(event, fn);
  }

  once<E extends keyof Events>(event: E, fn: (payload: Events[E]) => void): () => void {
    const off = this.on(event, (p) => {
      off();
      fn(p);
    });
    return off;
  }

  off<E extends keyof Events>(event: E, fn: (payload: Events[E]) => void): void {
    this.listeners.get(event)?.delete(fn as (payload: never) => void);
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (p: Events[E]) => void)(payload);
      } catch (err) {
        this.onError(err, event);
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
