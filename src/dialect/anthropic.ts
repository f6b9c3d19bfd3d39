/** The Anthropic dialect: Messages (`/v1/messages`), JSON and its named SSE events. */
import { z } from 'zod';
import type { ErrorCode, SluiceError } from '../errors.js';
import { AnthropicStreamAggregator, replayAnthropic } from './anthropic-stream.js';
import { blockText, contentText, lastUserText } from './messages.js';
import { ANTHROPIC_MESSAGES_KEYED } from './request-fields.js';
import { formatSse } from './sse.js';
import type { DialectSpec, ParsedEvent, Usage } from './types.js';
import { count, type Raw, record } from './usage.js';

const ANTHROPIC_ERROR_TYPE = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  model_not_found: 'not_found_error',
  not_found: 'not_found_error',
  payload_too_large: 'request_too_large',
  unsupported_media_type: 'invalid_request_error',
  request_timeout: 'timeout_error',
  rate_limited: 'rate_limit_error',
  queue_full: 'rate_limit_error',
  budget_exceeded: 'rate_limit_error',
  shutting_down: 'overloaded_error',
  circuit_open: 'overloaded_error',
  store_unavailable: 'api_error',
  upstream_unreachable: 'api_error',
  upstream_timeout: 'timeout_error',
  queue_timeout: 'timeout_error',
  deadline_unreachable: 'timeout_error',
  upstream_error: 'api_error',
  client_closed: 'api_error',
  internal: 'api_error',
} as const satisfies Record<ErrorCode, string>;

const messagesSchema = z.looseObject({
  model: z.string().min(1),
  stream: z.boolean().optional(),
  messages: z
    .array(
      z.looseObject({
        role: z.enum(['user', 'assistant']),
        content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
      }),
    )
    .min(1),
  max_tokens: z.number().int().min(1),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).optional(),
  system: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).optional(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).optional(),
});

/** Anthropic names every event; its `type` field says the same when a proxy dropped the name. */
const EVENT_TYPE = /"type"\s*:\s*"(\w+)"/;
const eventType = (event: ParsedEvent): string => event.event ?? EVENT_TYPE.exec(event.data)?.[1] ?? '';

function readUsage(raw: unknown): Usage | undefined {
  const u = record(raw);
  if (!u) return undefined;
  const out: Usage = {
    inputTokens: count(u.input_tokens),
    cacheReadTokens: count(u.cache_read_input_tokens),
    cacheWriteTokens: count(u.cache_creation_input_tokens),
    outputTokens: count(u.output_tokens),
  };
  const split = record(u.cache_creation);
  if (split) {
    const oneHour = count(split.ephemeral_1h_input_tokens);
    if (out.cacheWriteTokens === 0) out.cacheWriteTokens = count(split.ephemeral_5m_input_tokens) + oneHour;
    if (oneHour > 0) out.cacheWrite1hTokens = Math.min(oneHour, out.cacheWriteTokens);
  }
  return out;
}

function usageToWire(usage: Usage): Raw {
  const wire: Raw = {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cacheReadTokens,
    output_tokens: usage.outputTokens,
  };
  if (usage.cacheWrite1hTokens) {
    wire.cache_creation = {
      ephemeral_5m_input_tokens: usage.cacheWriteTokens - usage.cacheWrite1hTokens,
      ephemeral_1h_input_tokens: usage.cacheWrite1hTokens,
    };
  }
  return wire;
}

function errorBody(e: SluiceError): Raw {
  return {
    type: 'error',
    error: {
      type: ANTHROPIC_ERROR_TYPE[e.code],
      message: e.message,
      code: e.code,
      ...(e.extra.details ?? {}),
    },
  };
}

/** `POST /v1/messages/count_tokens`: a messages body without the reply's own settings. */
export const countTokensSchema = messagesSchema.omit({
  max_tokens: true,
  stream: true,
  temperature: true,
  top_p: true,
  top_k: true,
  stop_sequences: true,
});

export const anthropic = {
  name: 'anthropic',
  routes: {
    messages: {
      schema: messagesSchema,
      refusedFields: [['n', 'Anthropic returns one answer per request; send n requests instead']],
      keyedFields: ANTHROPIC_MESSAGES_KEYED,
    },
  },
  model: (body) => (typeof body.model === 'string' ? body.model : ''),
  stream: (body) => body.stream === true,
  maxOutputTokens: (body) => (typeof body.max_tokens === 'number' ? body.max_tokens : undefined),
  withMaxOutputTokens: (body, tokens) => ({ ...body, max_tokens: tokens }),
  systemText: (body) => contentText(body.system),
  lastUserText,
  // Anthropic streams always carry usage (message_start, message_delta): nothing to ask for.
  wantsStreamUsage: () => true,
  systemPrompt: { in: 'field', field: 'system' },
  // Tool results come back as `tool_result` blocks inside user messages, not as a role.
  toolResultRoles: [],
  tokenCounting: {
    tokenizer: 'estimate',
    // Tokens ≈ width × height / 750, capped near 1,600 for the largest accepted image.
    imageEstimateTokens: 1600,
    // The documented tool-use system prompt (Claude 4 family, tool_choice auto/none).
    toolsSystemPromptTokens: 346,
  },
  promptShaping: true,
  promptCache: { breakpoints: true, writesBilledAboveInput: true },
  usage: readUsage,
  usageToWire,
  streamUsage: (event) => {
    const type = eventType(event);
    if (type !== 'message_start' && type !== 'message_delta') return undefined;
    const data = record(event.json());
    const usage = record(type === 'message_start' ? record(data?.message)?.usage : data?.usage);
    return usage ? { raw: usage, merge: true } : undefined;
  },
  replyText: (reply) => {
    const content = record(reply)?.content;
    return Array.isArray(content) ? (content as Raw[]).map(blockText).join('\n') : '';
  },
  streamText: (event) => {
    if (eventType(event) !== 'content_block_delta') return '';
    const d = record(record(event.json())?.delta);
    if (!d) return '';
    if (typeof d.text === 'string') return d.text;
    if (typeof d.partial_json === 'string') return d.partial_json;
    if (typeof d.thinking === 'string') return d.thinking;
    return '';
  },
  finishReasons: (reply) => {
    const reason = record(reply)?.stop_reason;
    return typeof reason === 'string' ? [reason] : undefined;
  },
  replyContent: (reply) => record(reply)?.content,
  isCompleteReply: (_route, reply) => reply.type === 'message' && typeof reply.stop_reason === 'string',
  createAggregator: () => new AnthropicStreamAggregator(),
  replay: (reply) => replayAnthropic(reply).map((e) => formatSse(e.data, e.event)),
  requestStreamUsage: (body) => ({ body, stripUsage: false }),
  isUsageOnlyEvent: () => false,
  errorBody,
  errorEvent: (e) => `event: error\ndata: ${JSON.stringify(errorBody(e))}\n\n`,
  errorTypes: ANTHROPIC_ERROR_TYPE,
  upstreamErrorBody: (message) => ({ type: 'error', error: { type: 'api_error', message } }),
  provider: {
    paths: { messages: '/messages' },
    authHeaders: (key) => ({ 'x-api-key': key }),
    forwardedRequestHeaders: ['anthropic-version', 'anthropic-beta'],
    defaultHeaders: { 'anthropic-version': '2023-06-01' },
    // Taken with or without `/v1`: the Anthropic SDK's base URL has none and adds
    // `/v1/messages` itself, so people copy it either way.
    apiBasePath: (baseUrl) => {
      const path = new URL(baseUrl).pathname.replace(/\/+$/, '');
      return path.endsWith('/v1') ? path : `${path}/v1`;
    },
  },
} as const satisfies DialectSpec;
