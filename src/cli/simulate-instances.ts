/**
 * `simulate --instances N [--split mu|partitions] [--assign by-partition|by-rank]`: the chosen
 * policy and the uniform and tiered baselines, each as N instances on one shared budget
 * (src/simulate/cluster-runner.ts). The baselines publish no demand curve, so their split stays
 * by partition count whatever --split says, as in `start`.
 */
import type { SimulateAllResult } from '../simulate/index.js';
import {
  ASSIGN_MODES,
  MAX_INSTANCES,
  runClusterSimulation,
  SPLIT_MODES,
  type AssignMode,
  type ClusterSimResult,
  type InstanceFigures,
  type SplitMode,
} from '../simulate/cluster-runner.js';
import type { SimOptions } from '../simulate/options.js';
import { formatPercent } from './analyze-format.js';
import { UsageError } from './util.js';

export interface ClusterFlags {
  instances: number;
  split: SplitMode;
  assign: AssignMode;
}

/**
 * The cluster flags, or null for today's one-instance path (--instances 1 with neither --split
 * nor --assign). --split or --assign alone run the cluster path with one instance: one scheduler
 * on the shared budget's slots, the reference the split is measured against.
 */
export function clusterOptions(flags: {
  instances: string;
  split?: string;
  assign?: string;
}): ClusterFlags | null {
  const s = flags.instances.trim();
  const n = Number(s);
  if (s === '' || !Number.isInteger(n) || n < 1 || n > MAX_INSTANCES) {
    throw new UsageError(
      `--instances: expected an integer 1..${MAX_INSTANCES}, got ${JSON.stringify(flags.instances)}`,
    );
  }
  if (flags.split !== undefined && !(SPLIT_MODES as readonly string[]).includes(flags.split)) {
    throw new UsageError(`--split: expected one of ${SPLIT_MODES.join(', ')}, got ${flags.split}`);
  }
  if (flags.assign !== undefined && !(ASSIGN_MODES as readonly string[]).includes(flags.assign)) {
    throw new UsageError(`--assign: expected one of ${ASSIGN_MODES.join(', ')}, got ${flags.assign}`);
  }
  if (n === 1 && flags.split === undefined && flags.assign === undefined) return null;
  return {
    instances: n,
    split: (flags.split ?? 'mu') as SplitMode,
    assign: (flags.assign ?? 'by-partition') as AssignMode,
  };
}

export type ClusterRunResult = SimulateAllResult & { main: ClusterSimResult; instances: InstanceFigures[] };

/** The chosen policy and both baselines, each as N instances (one after the other). */
export async function simulateCluster(opts: SimOptions, c: ClusterFlags): Promise<ClusterRunResult> {
  const run = (policy: SimOptions['policy'], trace: SimOptions['trace']) =>
    runClusterSimulation({ ...opts, policy, trace, ...c });
  const main = await run(opts.policy, opts.trace);
  const other = (p: 'uniform' | 'tiered') => (opts.policy === p ? Promise.resolve(main) : run(p, undefined));
  const uniform = await other('uniform');
  const tiered = await other('tiered');
  return { main, baselines: { uniform, tiered }, instances: main.instances };
}

/** The per-instance table printed under the main one. */
export function printCluster(rows: readonly InstanceFigures[], J: number, c: ClusterFlags): string {
  const nf = new Intl.NumberFormat('en-US');
  const head = ['instance', 'tokens', 'weight', 'share', 'requests', 'refreshes', 'stale (J)', 'split'];
  const body = rows.map((r) => [
    r.instance,
    nf.format(r.tokens),
    formatPercent(r.weight_share),
    formatPercent(r.share_mean),
    nf.format(r.requests),
    nf.format(r.refreshes),
    formatPercent(r.J),
    r.mode,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [
    `${c.instances} instance(s) on one budget, split ${c.split}, tokens ${c.assign}; J over all tokens ${formatPercent(J)}`,
    line(head),
    ...body.map(line),
  ].join('\n');
}
