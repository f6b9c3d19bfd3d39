/**
 * Validation of admin API bodies: one strict zod object per route, and a 400 naming the first
 * problem. An unknown field names the field it was probably meant to be, as config errors do.
 */
import type { z } from 'zod';
import { nearestKey } from '../config/issues.js';
import { SluiceError } from '../errors.js';

export function parseAdminBody<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  body: unknown,
  what: string,
): z.infer<z.ZodObject<Shape>> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const fields = Object.keys(schema.shape);
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0];
    const meant = nearestKey(unknown, fields);
    throw new SluiceError(
      'invalid_request',
      `invalid ${what}: ${unknown} is not a field${meant ? `; did you mean ${meant}?` : ''} (fields: ${fields.join(', ')})`,
      { param: unknown },
    );
  }
  const where = issue.path.join('.');
  throw new SluiceError('invalid_request', `invalid ${what}: ${where || 'body'}: ${issue.message}`, {
    param: where || null,
  });
}

/** For 400s raised before the schema runs. */
export function invalidAdminBody(what: string, message: string, param: string | null): SluiceError {
  return new SluiceError('invalid_request', `invalid ${what}: ${message}`, { param });
}
