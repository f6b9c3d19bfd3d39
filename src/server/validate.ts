import { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { RouteName } from '../pipeline/types.js';

/**
 * Structural checks only: what the gateway itself relies on. Everything else passes through
 * untouched (`loose`) so new provider parameters work without a gateway release; the
 * provider validates the rest and its error comes back to the client as it is.
 */
const openaiMessage = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
});
const anthropicMessage = z.looseObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
});
const common = {
  model: z.string().min(1),
  stream: z.boolean().optional(),
};

const SCHEMAS = {
  chat: z.looseObject({
    ...common,
    messages: z.array(openaiMessage).min(1),
    n: z.number().int().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish(),
  }),
  messages: z.looseObject({
    ...common,
    messages: z.array(anthropicMessage).min(1),
    max_tokens: z.number().int().min(1),
    temperature: z.number().min(0).max(1).optional(),
  }),
  embeddings: z.looseObject({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
  }),
} satisfies Record<RouteName, z.ZodType>;

export function validateBody(route: RouteName, body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SluiceError('invalid_request', 'request body must be a JSON object');
  }
  const parsed = SCHEMAS[route].safeParse(body);
  if (parsed.success) return body as Record<string, unknown>;
  const issue = parsed.error.issues[0];
  const param = issue.path.map(String).join('.');
  throw new SluiceError('invalid_request', `${param || 'body'}: ${issue.message}`, { param: param || null });
}
