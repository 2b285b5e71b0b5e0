/**
 * Listen for what other instances announce (PostgreSQL only), on a connection of its own:
 *  - token_refresh_cluster: leases were released (a leaving or shedding instance). The lease
 *    manager runs a round at once, so a SIGTERM hands over within a round trip instead of at the
 *    next renewal (up to 3.3 s).
 *  - token_refresh_budget (payload: the budget key): a 429 or a hint slowed the key. Budgets of
 *    that key drop the slots they reserved ahead, so the whole cluster stops sending within a
 *    round trip instead of spending its look-ahead (up to 3 chunks, ~3 s).
 * A notification is only a hint to act sooner; missing one (connection lost) costs speed, never
 * safety: leases and the budget row stay the source of truth.
 */
import type { LeaseManager } from './leases.js';
import type { SharedBudget } from './shared-budget.js';

export const CLUSTER_CHANNEL = 'token_refresh_cluster';
export const BUDGET_CHANNEL = 'token_refresh_budget';

/** The part of a pg.Client this needs (a dedicated connection: LISTEN holds it). */
export interface NotificationClient {
  query(text: string): Promise<unknown>;
  on(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): unknown;
  removeListener(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): unknown;
}

export interface ClusterListeners {
  leases?: Pick<LeaseManager, 'poke'>;
  budgets?: ReadonlyArray<Pick<SharedBudget, 'key' | 'dropReserved'>>;
}

/** Start listening; resolves to a function that stops (UNLISTEN) again. */
export async function listenForCluster(
  client: NotificationClient,
  targets: ClusterListeners,
): Promise<() => Promise<void>> {
  const onNote = (msg: { channel: string; payload?: string }): void => {
    if (msg.channel === CLUSTER_CHANNEL) targets.leases?.poke();
    else if (msg.channel === BUDGET_CHANNEL) {
      for (const b of targets.budgets ?? []) if (b.key === msg.payload) b.dropReserved();
    }
  };
  client.on('notification', onNote);
  await client.query(`LISTEN ${CLUSTER_CHANNEL}`);
  await client.query(`LISTEN ${BUDGET_CHANNEL}`);
  return async () => {
    client.removeListener('notification', onNote);
    await client.query(`UNLISTEN ${CLUSTER_CHANNEL}`);
    await client.query(`UNLISTEN ${BUDGET_CHANNEL}`);
  };
}
