/**
 * One Responses API request sent to a chat-completions-only upstream: the chat body, and the
 * translation of its reply (JSON or SSE bytes) back into the Responses API's shapes.
 */
import { SseParser } from '../sse.js';
import { chatToResponse } from './reply.js';
import { responsesToChat } from './request.js';
import { ChatToResponsesStream } from './stream.js';

type Json = Record<string, unknown>;

/** OpenAI's reasoning models refuse `max_tokens`; every other chat server knows it. */
const TAKES_MAX_COMPLETION_TOKENS = /^(o\d|gpt-5)/;

export interface TranslatedCall {
  /** The chat completions request to send. */
  body: Json;
  /** A parsed chat completion as the Responses object. */
  reply(completion: Json): Json;
  /** A chat completions SSE stream as the Responses API's typed events. */
  stream(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
}

/** Throws a 400 naming the first field chat completions cannot carry. */
export function chatCallFor(request: Readonly<Json>): TranslatedCall {
  const model = typeof request.model === 'string' ? request.model : '';
  const body = responsesToChat(request, {
    maxTokensField: TAKES_MAX_COMPLETION_TOKENS.test(model) ? 'max_completion_tokens' : 'max_tokens',
  });
  return {
    body,
    reply: (completion) => chatToResponse(completion, request),
    stream: (chunks) => translateStream(chunks, request),
  };
}

const encoder = new TextEncoder();

async function* translateStream(
  chunks: AsyncIterable<Uint8Array>,
  request: Readonly<Json>,
): AsyncIterable<Uint8Array> {
  const parser = new SseParser();
  const events = new ChatToResponsesStream(request);
  for await (const chunk of chunks) {
    let out = '';
    for (const event of parser.feed(chunk)) out += events.push(event);
    if (out) yield encoder.encode(out);
  }
  let out = '';
  for (const event of parser.end()) out += events.push(event);
  out += events.end();
  if (out) yield encoder.encode(out);
}
