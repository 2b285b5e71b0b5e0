/**
 * Input validation for every route, done first thing in the handler (before any store or
 * scheduler call). zod schemas are strict: unknown fields are rejected, never silently dropped,
 * and no type coercion happens on bodies (the string "true" is not a boolean).
 */
import { z } from 'zod';
import {
  ADDRESS_PATTERN,
  TOKEN_FIELD_RULES,
  TOKEN_LIMITS,
  tokenFieldProblem,
  type TokenField,
} from '../core/limits.js';
import type { TokenSettings, TokenSortField } from '../store/types.js';
import { BadRequestError } from './errors.js';

/** Solana addresses are base58 (no 0, O, I, l), 32–44 characters (core/limits.ts). */
export const ADDRESS_RE = ADDRESS_PATTERN;

export const TOKEN_SORT_FIELDS = [
  'id',
  'address',
  'symbol',
  'rank',
  'volume_24h',
  'priority_score',
  'last_refresh_success',
  'updated_at',
] as const satisfies readonly TokenSortField[];
// Compile-time check that the list covers every TokenSortField.
type MissingSortField = Exclude<TokenSortField, (typeof TOKEN_SORT_FIELDS)[number]>;
const _allSortFieldsListed: MissingSortField extends never ? true : false = true;
void _allSortFieldsListed;

export const LIMITS = {
  listLimitMax: 500,
  listLimitDefault: 50,
  offsetMax: 10_000_000,
  searchMaxLength: 64,
  // Token-field limits come from core/limits.ts (the one home of every token limit).
  refreshIntervalMin: TOKEN_LIMITS.refresh_interval_seconds.min,
  refreshIntervalMax: TOKEN_LIMITS.refresh_interval_seconds.max,
  priorityScoreMin: TOKEN_LIMITS.priority_score.min,
  priorityScoreMax: TOKEN_LIMITS.priority_score.max,
  metadataMaxKeys: TOKEN_LIMITS.metadata.maxKeys,
  metadataMaxBytes: TOKEN_LIMITS.metadata.maxBytes,
} as const;

export const addressParamsSchema = z.strictObject({
  address: z.string().regex(ADDRESS_RE, `must be ${TOKEN_FIELD_RULES.address.expects}`),
});

const digits = (max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `must be a non-negative integer`)
    .transform(Number)
    .pipe(z.number().int().max(max, `must be at most ${max}`));

export const listQuerySchema = z.strictObject({
  limit: digits(LIMITS.listLimitMax).pipe(z.number().min(1, 'must be at least 1')).optional(),
  offset: digits(LIMITS.offsetMax).optional(),
  sort: z.enum(TOKEN_SORT_FIELDS, { error: `must be one of ${TOKEN_SORT_FIELDS.join(', ')}` }).optional(),
  order: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).optional(),
  search: z
    .string()
    .max(LIMITS.searchMaxLength, `must be at most ${LIMITS.searchMaxLength} characters`)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
    .optional(),
});

export const emptyQuerySchema = z.strictObject({});

/**
 * The zod shapes below state the limits (so the OpenAPI document shows them); the shared rule
 * from core/limits.ts is applied on top, so a value zod lets through that the store would refuse
 * (or the other way round) cannot exist.
 */
const followsRule = (field: TokenField) =>
  [
    (v: unknown) => tokenFieldProblem(field, v) === null,
    { message: `must be ${TOKEN_FIELD_RULES[field].expects}` },
  ] as const;

const metadataSchema = z
  .record(
    z
      .string()
      .max(
        TOKEN_LIMITS.metadata.maxKeyLength,
        `keys must be at most ${TOKEN_LIMITS.metadata.maxKeyLength} characters`,
      ),
    z.unknown(),
  )
  .refine((m) => Object.keys(m).length <= LIMITS.metadataMaxKeys, {
    message: `must have at most ${LIMITS.metadataMaxKeys} keys`,
  })
  .refine(...followsRule('metadata'));

export const settingsBodySchema = z
  .strictObject({
    refresh_interval_seconds: z
      .number({ error: 'must be a number of seconds or null' })
      .int('must be a whole number of seconds')
      .min(LIMITS.refreshIntervalMin, `must be at least ${LIMITS.refreshIntervalMin}`)
      .max(LIMITS.refreshIntervalMax, `must be at most ${LIMITS.refreshIntervalMax}`)
      .nullable()
      .refine(...followsRule('refresh_interval_seconds'))
      .optional(),
    priority_score: z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(LIMITS.priorityScoreMin, `must be at least ${LIMITS.priorityScoreMin}`)
      .max(LIMITS.priorityScoreMax, `must be at most ${LIMITS.priorityScoreMax}`)
      .refine(...followsRule('priority_score'))
      .optional(),
    is_active: z.boolean({ error: 'must be true or false' }).optional(),
    metadata: metadataSchema.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, {
    message: 'give at least one of refresh_interval_seconds, priority_score, is_active, metadata',
  });

export interface ListQuery {
  limit: number;
  offset: number;
  sort: TokenSortField;
  order: 'asc' | 'desc';
  search?: string;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path)
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Runs a schema; on failure throws BadRequestError naming the first bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, part: string): T {
  const result = schema.safeParse(value ?? (part === 'body' ? undefined : {}));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new BadRequestError(part, 'is invalid');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.join(', ');
    const where = issue.path.length ? `${part}.${issue.path.join('.')}` : part;
    throw new BadRequestError(where, `unknown field(s): ${keys}`);
  }
  if (part === 'body' && value === undefined) {
    throw new BadRequestError('body', 'a JSON object body is required (Content-Type: application/json)');
  }
  const path = issue.path.length ? `${part}.${issue.path.map(String).join('.')}` : part;
  let message = issue.message;
  if (issue.code === 'invalid_type' && issue.path.length === 0) message = 'must be a JSON object';
  else if (part === 'query' && issue.code === 'invalid_type' && Array.isArray(valueAt(value, issue.path))) {
    message = 'given more than once; pass it once';
  }
  throw new BadRequestError(path, message);
}

export function parseListQuery(query: unknown): ListQuery {
  const q = parseOrThrow(listQuerySchema, query, 'query');
  const out: ListQuery = {
    limit: q.limit ?? LIMITS.listLimitDefault,
    offset: q.offset ?? 0,
    sort: q.sort ?? 'id',
    order: q.order ?? 'asc',
  };
  if (q.search !== undefined && q.search.trim() !== '') out.search = q.search.trim();
  return out;
}

export function parseAddress(params: unknown): string {
  return parseOrThrow(addressParamsSchema, params, 'params').address;
}

export function parseSettings(body: unknown): TokenSettings {
  const b = parseOrThrow(settingsBodySchema, body, 'body');
  const out: TokenSettings = {};
  if (b.refresh_interval_seconds !== undefined) out.refresh_interval_seconds = b.refresh_interval_seconds;
  if (b.priority_score !== undefined) out.priority_score = b.priority_score;
  if (b.is_active !== undefined) out.is_active = b.is_active;
  if (b.metadata !== undefined) out.metadata = b.metadata as Record<string, unknown>;
  return out;
}
