/**
 * JSON logs (pino) with secrets redacted; pretty on a TTY. The API key and admin token are also
 * scrubbed from any string that reaches a log line through `redactSecrets`.
 */
import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

export type Logger = PinoLogger;

const REDACT_PATHS = [
  'apiKey',
  'jupiterApiKey',
  'adminToken',
  'config.jupiterApiKey',
  'config.adminToken',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'authorization',
];

export function createLogger(
  opts: { level?: string; pretty?: boolean; secrets?: (string | null)[] } = {},
): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && !process.env.CI);
  const secrets = (opts.secrets ?? []).filter((s): s is string => !!s && s.length >= 4);
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (secrets.length) {
    // Scrub secrets from free-text messages and from serialised objects (e.g. error messages).
    options.hooks = {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? redactSecrets(a, secrets) : a));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    };
    options.formatters = {
      log(obj) {
        return JSON.parse(redactSecrets(JSON.stringify(obj), secrets)) as Record<string, unknown>;
      },
    };
  }
  if (pretty) {
    options.transport = { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } };
  }
  return pino(options);
}

export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}
