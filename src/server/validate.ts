import { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { RouteName } from '../pipeline/types.js';
import { findMalformed, MAX_JSON_DEPTH, type Malformed } from './well-formed.js';

/**
 * What the gateway relies on, plus the known parameters a provider would refuse anyway (wrong
 * type or out of range), so a request that cannot succeed costs no upstream call. Everything
 * else passes through untouched (`loose`) so new provider parameters work without a gateway
 * release; the provider validates the rest and its error comes back to the client as it is.
 * Bounds are the providers' documented ones.
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
const penalty = z.number().min(-2).max(2).nullish();

const SCHEMAS = {
  chat: z.looseObject({
    ...common,
    messages: z.array(openaiMessage).min(1),
    n: z.number().int().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    presence_penalty: penalty,
    frequency_penalty: penalty,
    seed: z.number().int().nullish(),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    user: z.string().optional(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  }),
  messages: z.looseObject({
    ...common,
    messages: z.array(anthropicMessage).min(1),
    max_tokens: z.number().int().min(1),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional(),
    stop_sequences: z.array(z.string()).optional(),
    system: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).optional(),
    metadata: z.looseObject({ user_id: z.string().nullish() }).optional(),
  }),
  embeddings: z.looseObject({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
    dimensions: z.number().int().min(1).optional(),
    encoding_format: z.enum(['float', 'base64']).optional(),
    user: z.string().optional(),
  }),
  /** Legacy completions: a prompt is text, a list of texts, or token ids (one list or several). */
  completions: z.looseObject({
    ...common,
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
    n: z.number().int().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(0).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    presence_penalty: penalty,
    frequency_penalty: penalty,
    seed: z.number().int().nullish(),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    user: z.string().optional(),
    /** Here the number of most likely tokens to return, 0 to 5 (chat's is a boolean). */
    logprobs: z.number().int().min(0).max(5).nullish(),
    best_of: z.number().int().min(1).nullish(),
    echo: z.boolean().nullish(),
    suffix: z.string().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  }),
  /** The Responses API: `input` is text or a list of items (messages, function calls and outputs, …). */
  responses: z.looseObject({
    ...common,
    input: z.union([z.string(), z.array(z.looseObject({}))]).optional(),
    instructions: z.string().nullish(),
    max_output_tokens: z.number().int().min(16).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    tools: z.array(z.looseObject({ type: z.string() })).optional(),
    parallel_tool_calls: z.boolean().nullish(),
    previous_response_id: z.string().min(1).nullish(),
    store: z.boolean().nullish(),
    background: z.boolean().nullish(),
    user: z.string().optional(),
  }),
} satisfies Record<RouteName, z.ZodType>;

/** Fields a route's provider does not know and would refuse: `[field, why]`. */
const REFUSED_FIELDS: Record<RouteName, ReadonlyArray<readonly [string, string]>> = {
  chat: [],
  messages: [['n', 'Anthropic returns one answer per request; send n requests instead']],
  embeddings: [],
  completions: [],
  responses: [
    ['messages', 'the Responses API takes `input` (text or items) and `instructions`'],
    ['max_tokens', 'the Responses API names it `max_output_tokens`'],
    ['max_completion_tokens', 'the Responses API names it `max_output_tokens`'],
    ['response_format', 'the Responses API takes `text.format`'],
    ['n', 'the Responses API returns one answer per request'],
  ],
};

/** `POST /v1/messages/count_tokens`: a messages body without the reply's own settings. */
const COUNT_TOKENS = SCHEMAS.messages.omit({
  max_tokens: true,
  stream: true,
  temperature: true,
  top_p: true,
  top_k: true,
  stop_sequences: true,
});

export function validateBody(route: RouteName, body: unknown): Record<string, unknown> {
  return validateWith(SCHEMAS[route], REFUSED_FIELDS[route], body);
}

export function validateCountTokensBody(body: unknown): Record<string, unknown> {
  return validateWith(COUNT_TOKENS, REFUSED_FIELDS.messages, body);
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
