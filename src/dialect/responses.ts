/**
 * The Responses API dialect (`POST /v1/responses`): its own request, reply and typed SSE
 * events, OpenAI's error shape. Served natively by OpenAI-kind upstreams that list it in
 * `upstreams[].apis`; translated to chat completions otherwise (responses/chat-call.ts).
 */
import { z } from 'zod';
import type { SluiceError } from '../errors.js';
import { lastUserText } from './messages.js';
import { errorBody, OPENAI_ERROR_TYPE, openai, readUsage } from './openai.js';
import { OPENAI_RESPONSES_KEYED } from './request-fields.js';
import { ResponsesStreamAggregator, replayResponseEvents } from './responses/events.js';
import { responsesAsChatView } from './responses/view.js';
import { formatSse } from './sse.js';
import type { DialectSpec, ParsedEvent, Usage } from './types.js';
import { type Raw, record } from './usage.js';

/** The Responses API's event types are dotted (`response.output_text.delta`). */
const EVENT_TYPE_DOTTED = /"type"\s*:\s*"([\w.]+)"/;
/** The Responses API's closing events carry the whole response, usage included. */
const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);
/** The API refuses an output cap below this. */
const MIN_OUTPUT_TOKENS = 16;

/** `input` is text or a list of items (messages, function calls and outputs, …). */
const responsesSchema = z.looseObject({
  model: z.string().min(1),
  stream: z.boolean().optional(),
  input: z.union([z.string(), z.array(z.looseObject({}))]).optional(),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(MIN_OUTPUT_TOKENS).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  parallel_tool_calls: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  user: z.string().optional(),
});

const eventType = (event: ParsedEvent): string =>
  event.event ?? EVENT_TYPE_DOTTED.exec(event.data)?.[1] ?? '';

function usageToWire(usage: Usage): Raw {
  const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  return {
    input_tokens: prompt,
    input_tokens_details: { cached_tokens: usage.cacheReadTokens },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: prompt + usage.outputTokens,
  };
}

/** Text of Responses output items: message parts, function calls, reasoning summaries. */
function replyText(reply: unknown): string {
  const output = record(reply)?.output;
  if (!Array.isArray(output)) return '';
  let out = '';
  for (const item of output as Raw[]) {
    if (item?.type === 'function_call') out += String(item.name ?? '') + String(item.arguments ?? '');
    const parts =
      item?.type === 'message' ? item.content : item?.type === 'reasoning' ? item.summary : undefined;
    if (!Array.isArray(parts)) continue;
    for (const part of parts as Raw[]) {
      if (typeof part?.text === 'string') out += part.text;
      else if (typeof part?.refusal === 'string') out += part.refusal;
    }
  }
  return out;
}

/**
 * The Responses API's typed `error` event: code, message and param at the top level (the SDK's
 * ResponseErrorEvent) and the error object under `error`, as the API also sends it. The edge
 * does not count the events before it, so its sequence number is 0.
 */
function errorEvent(e: SluiceError): string {
  const error = errorBody(e).error as Raw;
  const event = {
    type: 'error',
    sequence_number: 0,
    code: e.code,
    message: e.message,
    param: error.param,
    error,
  };
  return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
}

export const responses = {
  name: 'responses',
  routes: {
    responses: {
      schema: responsesSchema,
      refusedFields: [
        ['messages', 'the Responses API takes `input` (text or items) and `instructions`'],
        ['max_tokens', 'the Responses API names it `max_output_tokens`'],
        ['max_completion_tokens', 'the Responses API names it `max_output_tokens`'],
        ['response_format', 'the Responses API takes `text.format`'],
        ['n', 'the Responses API returns one answer per request'],
      ],
      keyedFields: OPENAI_RESPONSES_KEYED,
    },
  },
  model: (body) => (typeof body.model === 'string' ? body.model : ''),
  stream: (body) => body.stream === true,
  maxOutputTokens: (body) =>
    typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined,
  withMaxOutputTokens: (body, tokens) => ({
    ...body,
    max_output_tokens: Math.max(MIN_OUTPUT_TOKENS, tokens),
  }),
  systemText: (body) => (typeof body.instructions === 'string' ? body.instructions : ''),
  lastUserText: (body) => lastUserText(responsesAsChatView(body)),
  // Responses streams always carry usage (in the closing event): nothing to ask for.
  wantsStreamUsage: () => true,
  systemPrompt: { in: 'field', field: 'instructions' },
  // Tool results are `function_call_output` input items, not messages; the semantic cache reads
  // only `messages`, which a Responses request does not have, so it never caches one.
  toolResultRoles: [],
  // Counted as the chat completion its instructions and input amount to (tokens/count.ts), by OpenAI's rules.
  tokenCounting: openai.tokenCounting,
  // Input items are neither trimmed nor compressed (yet).
  promptShaping: false,
  // OpenAI caches Responses prompts as it does chat ones: by itself, with no charge for writes.
  promptCache: openai.promptCache,
  // OpenAI's reader knows the Responses spelling (`input_tokens`, `input_tokens_details`).
  usage: readUsage,
  usageToWire,
  streamUsage: (event) => {
    if (!FINAL_EVENTS.has(eventType(event))) return undefined;
    const usage = record(record(record(event.json())?.response)?.usage);
    return usage ? { raw: usage, merge: false } : undefined;
  },
  replyText,
  streamText: (event) => {
    if (!eventType(event).endsWith('.delta')) return '';
    const delta = record(event.json())?.delta;
    return typeof delta === 'string' ? delta : '';
  },
  finishReasons: (reply) => {
    const r = record(reply);
    const reason = record(r?.incomplete_details)?.reason;
    if (typeof reason === 'string') return [reason];
    return typeof r?.status === 'string' ? [r.status] : undefined;
  },
  replyContent: (reply) => record(reply)?.output,
  // A response cut at max_output_tokens is as complete as a chat completion cut at max_tokens.
  isCompleteReply: (_route, reply) =>
    reply.object === 'response' && (reply.status === 'completed' || reply.status === 'incomplete'),
  createAggregator: () => new ResponsesStreamAggregator(),
  replay: (reply) => replayResponseEvents(reply).map((e) => formatSse(e.data, e.event)),
  requestStreamUsage: (body) => ({ body, stripUsage: false }),
  isUsageOnlyEvent: () => false,
  errorBody,
  errorEvent,
  errorTypes: OPENAI_ERROR_TYPE,
  upstreamErrorBody: openai.upstreamErrorBody,
  // Served by OpenAI-kind upstreams: the same wire (paths include `/responses`).
  provider: openai.provider,
} as const satisfies DialectSpec;
