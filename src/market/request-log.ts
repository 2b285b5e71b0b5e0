/** The simulator's request log: what tests and benchmarks check pacing against. Bounded ring. */

export interface MarketRequestRecord {
  /** Sequence number from 1, never reused (the ring drops the oldest). */
  seq: number;
  /** Arrival time on the market's clock (epoch ms). */
  t: number;
  /** Time on the market's clock when the answer was finished (null while open or hung). */
  tEnd: number | null;
  path: string;
  /** Number of ids asked for. */
  ids: number;
  /** HTTP status sent (0 while open; stays 0 for a hang). */
  status: number;
  /** Price requests already being handled when this one arrived (0 = no overlap). */
  concurrent: number;
  /** The fault applied, if any: 'error' | 'hang' | 'malformed' | 'partial' | 'rate-limited' | 'auth'. */
  fault: string | null;
}

export class RequestLog {
  private readonly buf: MarketRequestRecord[] = [];
  private start = 0;
  private seq = 0;

  constructor(readonly capacity = 100_000) {}

  add(rec: Omit<MarketRequestRecord, 'seq'>): MarketRequestRecord {
    const full = { seq: ++this.seq, ...rec };
    if (this.buf.length < this.capacity) this.buf.push(full);
    else {
      this.buf[this.start] = full;
      this.start = (this.start + 1) % this.capacity;
    }
    return full;
  }

  /** Records oldest first; `sinceSeq` keeps only later ones. Copies, so callers cannot edit the log. */
  list(sinceSeq = 0): MarketRequestRecord[] {
    const ordered = this.buf.slice(this.start).concat(this.buf.slice(0, this.start));
    return ordered.filter((r) => r.seq > sinceSeq).map((r) => ({ ...r }));
  }

  get total(): number {
    return this.seq;
  }
}
