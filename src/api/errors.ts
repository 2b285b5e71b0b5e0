/**
 * Errors the HTTP layer answers with. Every error response is `{ error, message }` where `error`
 * is a short stable code and `message` says what was wrong and what the caller can do. Nothing
 * secret (admin token, API key, SQL, stack) ever goes into `message`.
 */
import { StoreInputError } from '../store/errors.js';

export type ApiErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'upgrade_required'
  | 'rate_limited'
  | 'upstream_error'
  | 'circuit_open'
  | 'not_ready'
  | 'overloaded'
  | 'service_unavailable'
  | 'internal';

export interface ErrorBody {
  error: ApiErrorCode;
  message: string;
}

/** Base of every error the API raises on purpose; carries its HTTP status and code. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  toBody(): ErrorBody {
    return { error: this.code, message: this.message };
  }
}

/**
 * 400: a request field is malformed. Either `new BadRequestError(field, message)` (field names
 * it, e.g. `body.priority_score`, and prefixes the message) or `new BadRequestError(message)`.
 */
export class BadRequestError extends ApiError {
  readonly field: string | null;
  constructor(fieldOrMessage: string | null, message?: string) {
    const field = message === undefined ? null : fieldOrMessage;
    const text = message === undefined ? (fieldOrMessage ?? 'bad request') : message;
    super(400, 'bad_request', field ? `${field}: ${text}` : text);
    this.field = field;
  }
}

/** 401: no usable credentials were presented. */
export class UnauthorizedError extends ApiError {
  constructor(message: string) {
    super(401, 'unauthorized', message, { 'www-authenticate': 'Bearer realm="token-refresh"' });
  }
}

/** 403: credentials were presented but are wrong, or the action is not allowed here. */
export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

/**
 * Thrown by `ApiService.refreshToken` (and anything else that looks a token up by address) when
 * no token has that address. The scheduler integration reuses this class.
 */
export class TokenNotFoundError extends NotFoundError {
  constructor(readonly address: string) {
    super(`no token with address ${address}; add it with \`token-refresh tokens import\` first`);
  }
}

/** Maps fastify's own error codes (content parser, body limit, routing) to ours. */
export function codeForStatus(status: number): ApiErrorCode {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 502:
      return 'upstream_error';
    case 503:
      return 'service_unavailable';
    default:
      return status >= 500 ? 'internal' : 'bad_request';
  }
}

/**
 * The ApiError an error thrown by a handler answers as, or null when it is not the caller's
 * doing (the server then answers 500 and logs it). A StoreInputError is a value the store refused
 * before any SQL ran (a limit from core/limits.ts): the caller's mistake, so a 400 with the
 * store's message (field, accepted range, value) — never a 500.
 */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreInputError) return new BadRequestError(err.message);
  return null;
}
