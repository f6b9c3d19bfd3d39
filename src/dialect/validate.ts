import type { z } from 'zod';
import { SluiceError } from '../errors.js';
import { countTokensSchema } from './anthropic.js';
import { routeSpec } from './index.js';
import type { RouteName } from './types.js';
import { findMalformed, MAX_JSON_DEPTH, type Malformed } from './well-formed.js';

/**
 * What the gateway relies on, plus the known parameters a provider would refuse anyway (wrong
 * type or out of range), so a request that cannot succeed costs no upstream call. Everything
 * else passes through untouched (`loose`) so new provider parameters work without a gateway
 * release; the provider validates the rest and its error comes back to the client as it is.
 * Bounds are the providers' documented ones.
 */
export function validateBody(route: RouteName, body: unknown): Record<string, unknown> {
  const spec = routeSpec(route);
  return validateWith(spec.schema, spec.refusedFields, body);
}

/** `POST /v1/messages/count_tokens`: the messages route's refusals, its schema minus the reply's settings. */
export function validateCountTokensBody(body: unknown): Record<string, unknown> {
  return validateWith(countTokensSchema, routeSpec('messages').refusedFields, body);
}

function validateWith(
  schema: z.ZodType,
  refused: ReadonlyArray<readonly [string, string]>,
  body: unknown,
): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SluiceError('invalid_request', 'request body must be a JSON object');
  }
  const malformed = findMalformed(body);
  if (malformed) throw malformedError(malformed);
  for (const [field, why] of refused) {
    if (field in body)
      throw new SluiceError('invalid_request', `${field}: not supported on this route (${why})`, {
        param: field,
      });
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return body as Record<string, unknown>;
  const issue = parsed.error.issues[0];
  const param = issue.path.map(String).join('.');
  throw new SluiceError('invalid_request', `${param || 'body'}: ${issue.message}`, { param: param || null });
}

/** Shown paths are cut after this many segments: a too-deep path is as long as the bound. */
const SHOWN_PATH_SEGMENTS = 4;

export function malformedError({ kind, path }: Malformed): SluiceError {
  const shown = path.slice(0, SHOWN_PATH_SEGMENTS).map(String).join('.') || 'body';
  const where = path.length > SHOWN_PATH_SEGMENTS ? `${shown}…` : shown;
  const param = kind === 'too_deep' ? String(path[0] ?? '') || null : path.map(String).join('.') || null;
  const message =
    kind === 'too_deep'
      ? `${where}: nested deeper than ${MAX_JSON_DEPTH} levels`
      : `${where}: contains a lone surrogate (a string that is not valid Unicode); send well-formed UTF-16 / UTF-8 text`;
  return new SluiceError('invalid_request', message, { param });
}
