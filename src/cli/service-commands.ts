/**
 * `start`, `demo` and `migrate`: the long-running service and its one-shot companions.
 * Graceful shutdown: the first SIGTERM/SIGINT stops taking batches, lets the in-flight batch
 * commit, persists the schedule and exits 0 (forced exit after 9.5 s so we stay inside the 10 s
 * an orchestrator allows); a second signal exits at once.
 */
import { type Command, Option } from 'commander';
import { loadConfig, describeConfig, flagName, type Config } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
// Heavy modules (database drivers, fastify) load inside the actions so `--help` and the light
// commands start fast.
import { parsePositiveInt, UsageError } from './util.js';

const SHUTDOWN_DEADLINE_MS = 9_500;

/**
 * The API port is taken or not ours to bind. Exit 1, not 2: the command line is valid and the same
 * command succeeds once the port is free, so it is a runtime condition rather than a usage error.
 */
export class PortUnavailableError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string,
  ) {
    const what = code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${code})`;
    super(
      `port ${port} on ${host} ${what}: stop the process that holds it, or choose another port with --port or PORT`,
    );
    this.name = 'PortUnavailableError';
  }
}

function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
    return new PortUnavailableError(host, port, code);
  return err;
}

type Closer = () => Promise<void>;

export function installSignalHandlers(log: Logger, close: Closer): void {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal: sig }, 'shutting down: finishing the in-flight batch');
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    close().then(
      () => {
        log.info('stopped cleanly');
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Common flags shared by `start` (and partly `demo`). */
function serviceOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--plan <plan>', 'Jupiter plan: keyless|free|developer|launch|pro'))
    .addOption(new Option('--requests-per-minute <n>', 'request budget per minute (default: the plan rate)'))
    .addOption(new Option('--policy <policy>', 'optimal|tiered|uniform'))
    .addOption(new Option('--host <host>', 'API bind address (default 127.0.0.1)'))
    .addOption(new Option('--port <port>', 'API port (default 8080)'));
}

function flagsToConfig(o: Record<string, unknown>): Partial<Record<keyof Config, unknown>> {
  return {
    plan: o.plan,
    requestsPerMinute: o.requestsPerMinute,
    policy: o.policy,
    host: o.host,
    port: o.port,
  };
}

export function registerServiceCommands(program: Command): void {
  serviceOptions(program.command('start').description('run the scheduler service with its HTTP API')).action(
    async (o: Record<string, unknown>) => {
      const config = loadConfig(process.env, flagsToConfig(o), flagName);
      // Several instances on one PostgreSQL database (ignored on the embedded database).
      const { resolveBudgetSplit, resolveInstanceId, resolveLeaseMs } =
        await import('../cluster/instance.js');
      const cluster = {
        instanceId: resolveInstanceId(process.env),
        leaseMs: resolveLeaseMs(process.env),
        budgetSplit: resolveBudgetSplit(process.env),
      };
      const { startApiServer } = await import('../api/server.js');
      const { assertSafeBinding } = await import('../api/auth.js');
      const { initializeTokenRefresh } = await import('../integration.js');
      assertSafeBinding(config.host, config.adminToken ?? undefined);
      const log = createLogger({
        level: config.logLevel,
        secrets: [config.jupiterApiKey, config.adminToken],
      });
      log.info({ config: describeConfig(config) }, 'starting');
      // A database that is not up yet is waited for (logged, 1 s doubling to 30 s); a signal
      // during that wait (or during the token load) stops the start cleanly with exit 0.
      const startup = new AbortController();
      const onEarlySignal = (sig: NodeJS.Signals): void => {
        log.info({ signal: sig }, 'stopping before start-up finished');
        startup.abort(new Error(`start-up interrupted by ${sig}`));
      };
      process.once('SIGTERM', onEarlySignal);
      process.once('SIGINT', onEarlySignal);
      // The clock's timers are unref'd; while start-up only waits on them (the database retry),
      // this keeps the process alive. The HTTP server holds it once listening.
      const keepAlive = setInterval(() => undefined, 60_000);
      let trs: Awaited<ReturnType<typeof initializeTokenRefresh>>;
      try {
        // Listen before the scheduler starts: a busy port must fail the start before a single
        // price request spends the plan's budget (with autoStart the first batch left at once).
        trs = await initializeTokenRefresh({
          ...config,
          logger: log,
          env: {},
          cluster,
          autoStart: false,
          waitForDatabase: { signal: startup.signal },
        });
      } catch (err) {
        if (!startup.signal.aborted) throw err;
        log.info('stopped cleanly');
        log.flush?.();
        process.exit(0);
      } finally {
        clearInterval(keepAlive);
        process.off('SIGTERM', onEarlySignal);
        process.off('SIGINT', onEarlySignal);
      }
      if (startup.signal.aborted) {
        await trs.shutdown().catch(() => undefined);
        log.info('stopped cleanly');
        log.flush?.();
        process.exit(0);
      }
      let api: Awaited<ReturnType<typeof startApiServer>>;
      try {
        api = await startApiServer(trs, {
          host: config.host,
          port: config.port,
          adminToken: config.adminToken ?? undefined,
          logger: log,
        });
      } catch (err) {
        await trs.shutdown().catch(() => undefined);
        throw listenError(err, config.host, config.port);
      }
      trs.start();
      log.info(
        {
          url: api.url,
          tokens: trs.status().tokens.active,
          policy: config.policy,
          instance: trs.cluster ? trs.cluster.instanceId : null,
        },
        'service running',
      );
      installSignalHandlers(log, async () => {
        await trs.shutdown();
        await api.close();
      });
    },
  );

  program
    .command('demo')
    .description('offline demo: local market simulator + embedded DB + seeded tokens + dashboard')
    .option('--tokens <n>', 'number of synthetic tokens', '5000')
    .option('--port <port>', 'dashboard/API port', '8080')
    .option('--rpm <n>', 'simulated plan: requests per minute (30 = keyless)', '30')
    .option('--policy <policy>', 'optimal|tiered|uniform', 'optimal')
    .option('--data-dir <dir>', 'embedded database directory (memory:// for none)', 'memory://')
    .action(async (o: { tokens: string; port: string; rpm: string; policy: string; dataDir: string }) => {
      const tokens = parsePositiveInt(o.tokens, '--tokens', 1, 1_000_000);
      const port = parsePositiveInt(o.port, '--port', 0, 65_535);
      const rpm = parsePositiveInt(o.rpm, '--rpm', 1, 100_000);
      if (!['optimal', 'tiered', 'uniform'].includes(o.policy))
        throw new UsageError(`--policy: unknown policy ${o.policy}`);
      const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info' });
      const { startDemo } = await import('../demo.js');
      const demo = await startDemo({
        tokens,
        apiPort: port,
        marketRpm: rpm,
        policy: o.policy as 'optimal',
        dataDir: o.dataDir,
        logger: log,
      });
      let refreshed = 0;
      demo.integration.on('batch:completed', (e) => (refreshed += e.updated));
      const lines = [
        '',
        `  token-refresh demo is running (${tokens} tokens, ${rpm} requests/min, policy ${o.policy})`,
        `  budget:     ${rpm} requests/min × 50 ids = ${(rpm * 50).toLocaleString('en-US')} refreshes/min for ${tokens.toLocaleString('en-US')} tokens` +
          (rpm * 50 < (tokens * 60) / 15 ? ': too few to refresh all every 15 s, so the policy chooses' : ''),
        `  dashboard:  ${demo.apiUrl}/`,
        `  status:     ${demo.apiUrl}/api/v1/status`,
        `  metrics:    ${demo.apiUrl}/metrics`,
        `  market:     ${demo.marketUrl}/price/v3  (local Jupiter-compatible simulator)`,
        `  database:   embedded PGlite (${o.dataDir})`,
        '  Ctrl+C to stop.',
        '',
      ];
      process.stdout.write(lines.join('\n') + '\n');
      const ticker = setInterval(() => {
        const s = demo.integration.status();
        log.info(
          { refreshed, refreshesLastMinute: s.rates.refreshesLastMinute, circuit: s.circuit.state },
          'prices refreshed',
        );
      }, 5_000);
      ticker.unref();
      installSignalHandlers(log, async () => {
        clearInterval(ticker);
        await demo.stop();
      });
    });

  program
    .command('migrate')
    .description('apply database migrations (DATABASE_URL, or the embedded database)')
    .action(async () => {
      const config = loadConfig(process.env);
      const { openStore } = await import('../store/index.js');
      const store = await openStore({
        databaseUrl: config.databaseUrl ?? undefined,
        dataDir: config.dataDir,
      });
      try {
        await store.migrate();
        process.stdout.write(`migrations applied (${store.kind})\n`);
      } finally {
        await store.close();
      }
    });
}
