/**
 * JSON logs (pino) with secrets redacted; pretty on a TTY.
 *
 * Two layers keep the API key and the admin token out of every line:
 * - pino's own `redact` blanks the known fields (config keys, Authorization / x-api-key headers);
 * - `hooks.streamWrite` scrubs every occurrence of a configured secret from the finished line,
 *   whatever field, message or error stack carried it.
 * The scrub works on the string pino already produced (after its serializers and its safe,
 * cycle-tolerant stringify), so it cannot throw on what it is given: a fastify request object is
 * circular, and an earlier `formatters.log` that ran JSON.stringify on the raw merge object killed
 * the service on its first HTTP request whenever a secret was set.
 */
import { pino, type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';

export type Logger = PinoLogger;

/*
 * No `config.*` paths: the start-up line logs describeConfig(), which already shows a set secret
 * as `[redacted]` and an unset one as `not set`; a redact path there would print `[redacted]` for
 * both and hide whether the secret is configured.
 */
const REDACT_PATHS = [
  'apiKey',
  'jupiterApiKey',
  'adminToken',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'authorization',
];

/** Secrets shorter than this are not scrubbed from free text (they would blank ordinary words). */
const MIN_SCRUB_LENGTH = 4;

export function createLogger(
  opts: {
    level?: string;
    pretty?: boolean;
    secrets?: (string | null | undefined)[];
    /** Where lines go (tests); default stdout. Implies pretty: false. */
    destination?: DestinationStream;
  } = {},
): Logger {
  const pretty = opts.destination
    ? false
    : (opts.pretty ?? (process.stdout.isTTY === true && !process.env.CI));
  const secrets = (opts.secrets ?? []).filter((s): s is string => !!s && s.length >= MIN_SCRUB_LENGTH);
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (secrets.length) {
    // A secret with a quote or a backslash appears JSON-escaped in the line: scrub both spellings.
    const forms = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))];
    options.hooks = { streamWrite: (line: string) => redactSecrets(line, forms) };
  }
  if (pretty) {
    options.transport = { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } };
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** `text` with every occurrence of each secret replaced by `[redacted]`. Never throws. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}
