/**
 * The OpenAI dialect: chat completions (`/v1/chat/completions`), embeddings (`/v1/embeddings`)
 * and legacy completions (`/v1/completions`, never cached), as OpenAI and every
 * OpenAI-compatible server speak them.
 */
import { z } from 'zod';
import type { ErrorCode, SluiceError } from '../errors.js';
import { lastUserText, systemMessagesText } from './messages.js';
import { OpenAIStreamAggregator, replayOpenAI } from './openai-stream.js';
import { formatSse } from './sse.js';
import { OPENAI_CHAT_KEYED, OPENAI_EMBEDDINGS_KEYED } from './request-fields.js';
import type { DialectSpec, ParsedEvent, RouteName, Usage } from './types.js';
import { count, type Raw, record } from './usage.js';

export const OPENAI_ERROR_TYPE = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  model_not_found: 'invalid_request_error',
  not_found: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  request_timeout: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  queue_full: 'rate_limit_error',
  budget_exceeded: 'insufficient_quota',
  shutting_down: 'service_unavailable',
  circuit_open: 'service_unavailable',
  store_unavailable: 'service_unavailable',
  upstream_unreachable: 'api_error',
  upstream_timeout: 'timeout',
  queue_timeout: 'timeout',
  deadline_unreachable: 'timeout',
  upstream_error: 'api_error',
  client_closed: 'api_error',
  internal: 'api_error',
} as const satisfies Record<ErrorCode, string>;

// Validation: what the gateway relies on, plus known parameters' documented types and ranges
// (see validate.ts). Everything else passes through (`loose`).
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
});
const penalty = z.number().min(-2).max(2).nullish();
const chatSchema = z.looseObject({
  model: z.string().min(1),
  stream: z.boolean().optional(),
  messages: z.array(message).min(1),
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
});
const embeddingsSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
  dimensions: z.number().int().min(1).optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
  user: z.string().optional(),
});

/** Legacy completions: a prompt is text, a list of texts, or token ids (one list or several). */
const completionsSchema = z.looseObject({
  model: z.string().min(1),
  stream: z.boolean().optional(),
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
});

const USAGE_OBJECT = /"usage"\s*:\s*\{/;

/** OpenAI's usage object (chat, embeddings; the Responses API's `input_tokens` spelling too). */
export function readUsage(raw: unknown): Usage | undefined {
  const u = record(raw);
  if (!u) return undefined;
  const promptTotal = u.prompt_tokens !== undefined ? count(u.prompt_tokens) : count(u.input_tokens);
  const output = u.completion_tokens !== undefined ? count(u.completion_tokens) : count(u.output_tokens);
  const inDetails = record(u.prompt_tokens_details) ?? record(u.input_tokens_details);
  const outDetails = record(u.completion_tokens_details) ?? record(u.output_tokens_details);
  // DeepSeek reports hits at the top level; OpenAI-compatible proxies in front of Anthropic
  // (LiteLLM, OpenRouter) add cache writes under a few names.
  const cacheRead =
    count(inDetails?.cached_tokens) || count(u.prompt_cache_hit_tokens) || count(u.cache_read_input_tokens);
  const cacheWrite =
    count(inDetails?.cache_write_tokens) ||
    count(inDetails?.cache_creation_tokens) ||
    count(u.cache_creation_input_tokens);
  const out: Usage = {
    inputTokens: Math.max(0, promptTotal - cacheRead - cacheWrite),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    outputTokens: output,
  };
  const reasoning = count(outDetails?.reasoning_tokens);
  if (reasoning > 0) out.reasoningTokens = reasoning;
  return out;
}

function usageToWire(usage: Usage): Raw {
  const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  const wire: Raw = {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadTokens },
  };
  if (usage.reasoningTokens) wire.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  return wire;
}

function replyText(reply: unknown): string {
  const p = record(reply);
  if (!p || !Array.isArray(p.choices)) return '';
  let out = '';
  for (const c of p.choices as Array<{ message?: Raw; text?: unknown }>) {
    // Legacy completions answer with `choices[].text`.
    if (typeof c?.text === 'string') out += c.text;
    const m = c?.message;
    if (!m) continue;
    if (typeof m.content === 'string') out += m.content;
    if (Array.isArray(m.tool_calls)) {
      for (const t of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) {
        out += (t.function?.name ?? '') + (t.function?.arguments ?? '');
      }
    }
  }
  return out;
}

function streamText(event: ParsedEvent): string {
  if (event.data === '[DONE]') return '';
  // biome-ignore lint/suspicious/noExplicitAny: chunk payloads are untyped JSON, read defensively
  const choices = (event.json() as any)?.choices;
  if (!Array.isArray(choices)) return '';
  let out = '';
  for (const c of choices) {
    // Legacy completions stream their text as `choices[].text`, with no delta.
    if (typeof c?.text === 'string') out += c.text;
    const d = c?.delta;
    if (!d) continue;
    if (typeof d.content === 'string') out += d.content;
    if (typeof d.reasoning_content === 'string') out += d.reasoning_content;
    if (typeof d.refusal === 'string') out += d.refusal;
    if (Array.isArray(d.tool_calls)) {
      for (const t of d.tool_calls) {
        if (typeof t?.function?.name === 'string') out += t.function.name;
        if (typeof t?.function?.arguments === 'string') out += t.function.arguments;
      }
    }
  }
  return out;
}

function isCompleteReply(route: RouteName, reply: Raw): boolean {
  if (route === 'embeddings') return reply.object === 'list' && Array.isArray(reply.data);
  return (
    reply.object === (route === 'completions' ? 'text_completion' : 'chat.completion') &&
    Array.isArray(reply.choices) &&
    reply.choices.length > 0 &&
    (reply.choices as Raw[]).every((c) => typeof c.finish_reason === 'string')
  );
}

function wantsStreamUsage(body: Raw): boolean {
  return record(body.stream_options)?.include_usage === true;
}

export function errorBody(e: SluiceError): Raw {
  return {
    error: {
      message: e.message,
      type: OPENAI_ERROR_TYPE[e.code],
      param: e.extra.param ?? null,
      code: e.code,
      ...(e.extra.details ?? {}),
    },
  };
}

export const openai = {
  name: 'openai',
  routes: {
    chat: { schema: chatSchema, refusedFields: [], keyedFields: OPENAI_CHAT_KEYED },
    embeddings: { schema: embeddingsSchema, refusedFields: [], keyedFields: OPENAI_EMBEDDINGS_KEYED },
    // Never cached (cache/policy.ts): no key table.
    completions: { schema: completionsSchema, refusedFields: [] },
  },
  model: (body) => (typeof body.model === 'string' ? body.model : ''),
  stream: (body) => body.stream === true,
  maxOutputTokens: (body) => {
    const cap = body.max_completion_tokens ?? body.max_tokens;
    return typeof cap === 'number' ? cap : undefined;
  },
  withMaxOutputTokens: (body, tokens, ownModel) =>
    ownModel ? { ...body, max_completion_tokens: tokens } : { ...body, max_tokens: tokens },
  systemText: systemMessagesText,
  lastUserText,
  wantsStreamUsage,
  systemPrompt: { in: 'messages' },
  toolResultRoles: ['tool', 'function'],
  tokenCounting: {
    tokenizer: 'tiktoken-by-model',
    // A high-detail 1024² image: 4 tiles × 170 + 85 (the size is not known before the call).
    imageEstimateTokens: 765,
    toolsSystemPromptTokens: 0,
  },
  promptShaping: true,
  // OpenAI caches prompt prefixes of 1,024+ tokens by itself and charges nothing to write them.
  promptCache: { breakpoints: false, writesBilledAboveInput: false },
  usage: readUsage,
  usageToWire,
  streamUsage: (event) => {
    if (event.data === '[DONE]' || !USAGE_OBJECT.test(event.data)) return undefined;
    const usage = record(record(event.json())?.usage);
    // Some servers send cumulative usage on every chunk: the last one wins.
    return usage ? { raw: usage, merge: false } : undefined;
  },
  replyText,
  streamText,
  finishReasons: (reply) => {
    const choices = record(reply)?.choices;
    if (!Array.isArray(choices)) return undefined;
    const reasons = choices.flatMap((c) => {
      const reason = record(c)?.finish_reason;
      return typeof reason === 'string' ? [reason] : [];
    });
    return reasons.length > 0 ? reasons : undefined;
  },
  replyContent: (reply) => {
    const choices = record(reply)?.choices;
    if (!Array.isArray(choices)) return undefined;
    // Legacy completions answer with `text`, chat with `message`.
    const messages = choices.map((c) => record(c)?.message ?? record(c)?.text);
    return messages.length === 1 ? messages[0] : messages;
  },
  isCompleteReply,
  createAggregator: () => new OpenAIStreamAggregator(),
  replay: (reply, options) => replayOpenAI(reply, options).map((data) => formatSse(data)),
  requestStreamUsage: (body) => {
    if (wantsStreamUsage(body)) return { body, stripUsage: false };
    const options = record(body.stream_options);
    return { body: { ...body, stream_options: { ...options, include_usage: true } }, stripUsage: true };
  },
  isUsageOnlyEvent: (event) => {
    if (!USAGE_OBJECT.test(event.data)) return false;
    const chunk = record(event.json());
    return Array.isArray(chunk?.choices) && chunk.choices.length === 0 && record(chunk.usage) !== undefined;
  },
  errorBody,
  errorEvent: (e) => `data: ${JSON.stringify(errorBody(e))}\n\n`,
  errorTypes: OPENAI_ERROR_TYPE,
  upstreamErrorBody: (message) => ({ error: { message, type: 'upstream_error', code: null, param: null } }),
  provider: {
    paths: {
      chat: '/chat/completions',
      embeddings: '/embeddings',
      completions: '/completions',
      responses: '/responses',
    },
    authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    forwardedRequestHeaders: ['openai-organization', 'openai-project', 'openai-beta'],
    defaultHeaders: {},
    // An OpenAI base URL carries its API prefix (`…/v1`, as the OpenAI SDK's does).
    apiBasePath: (baseUrl) => new URL(baseUrl).pathname.replace(/\/+$/, ''),
  },
} as const satisfies DialectSpec;
