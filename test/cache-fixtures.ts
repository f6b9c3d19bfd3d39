import { createContext } from '../src/pipeline/context.js';
import type {
  Caller,
  Dialect,
  Reply,
  RequestContext,
  RouteName,
  StreamReply,
} from '../src/pipeline/types.js';

/**
 * Shared by the cache tests: real SSE byte streams in both dialects (shaped like the
 * providers' own, with a ping, a usage chunk and a tool call), contexts built with the
 * pipeline's own `createContext`, and helpers to read replies.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const OPENAI_META =
  '"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306"';

const chunk = (choices: string, usage = 'null') =>
  `data: {${OPENAI_META},"choices":[${choices}],"usage":${usage}}\n\n`;
const choice = (delta: string, finish = 'null', logprobs = 'null') =>
  `{"index":0,"delta":${delta},"logprobs":${logprobs},"finish_reason":${finish}}`;

export const OPENAI_USAGE =
  '{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}';

/** A text answer streamed by OpenAI with `stream_options.include_usage`. */
export function openAITextSse(text = 'The capital of France is Paris.', withUsage = true): string {
  const words = text.match(/\S+\s*/g) ?? [];
  let out = chunk(choice('{"role":"assistant","content":"","refusal":null}'));
  for (const word of words) out += chunk(choice(`{"content":${JSON.stringify(word)}}`));
  out += chunk(choice('{}', '"stop"'));
  if (withUsage) out += `data: {${OPENAI_META},"choices":[],"usage":${OPENAI_USAGE}}\n\n`;
  return `${out}data: [DONE]\n\n`;
}

/** A tool call (arguments in fragments) after some reasoning, as a DeepSeek-style server streams it. */
export function openAIToolSse(): string {
  const fragments = ['{"', 'city', '":"', 'Par', 'is"', ',"unit":"c"}'];
  let out = chunk(choice('{"role":"assistant","content":null,"refusal":null}'));
  out += chunk(choice('{"reasoning_content":"The user wants "}'));
  out += chunk(choice('{"reasoning_content":"the weather."}'));
  out += chunk(
    choice(
      '{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]}',
    ),
  );
  for (const f of fragments) {
    out += chunk(choice(`{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(f)}}}]}`));
  }
  out += chunk(choice('{}', '"tool_calls"'));
  out += `data: {${OPENAI_META},"choices":[],"usage":${OPENAI_USAGE}}\n\n`;
  return `${out}data: [DONE]\n\n`;
}

const event = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`;

/** An Anthropic stream: thinking (with signature), text, then a tool_use with streamed JSON input. */
export function anthropicSse(text = 'Let me check the weather in Paris.'): string {
  let out = event(
    'message_start',
    '{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}}',
  );
  out += event(
    'content_block_start',
    '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}',
  );
  out += event('ping', '{"type": "ping"}');
  out += event(
    'content_block_delta',
    '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Weather needs a tool."}}',
  );
  out += event(
    'content_block_delta',
    '{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}',
  );
  out += event('content_block_stop', '{"type":"content_block_stop","index":0}');
  out += event(
    'content_block_start',
    '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}',
  );
  for (const word of text.match(/\S+\s*/g) ?? []) {
    out += event(
      'content_block_delta',
      `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":${JSON.stringify(word)}}}`,
    );
  }
  out += event('content_block_stop', '{"type":"content_block_stop","index":1}');
  out += event(
    'content_block_start',
    '{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}',
  );
  for (const part of ['', '{"location": "Pa', 'ris", "unit": "c', 'elsius"}']) {
    out += event(
      'content_block_delta',
      `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(part)}}}`,
    );
  }
  out += event('content_block_stop', '{"type":"content_block_stop","index":2}');
  out += event(
    'message_delta',
    '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}',
  );
  return out + event('message_stop', '{"type":"message_stop"}');
}

/** Bytes cut at awkward places (inside events, inside UTF-8 sequences), as a network would. */
export function toChunks(sse: string, size = 7): Uint8Array[] {
  const bytes = encoder.encode(sse);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

export interface FakeStreamOptions {
  /** Throw after this many chunks (an upstream that dies mid-stream). */
  failAfter?: number;
  /** Wait this long before each chunk. */
  delayMs?: number;
}

export function streamReply(sse: string, options: FakeStreamOptions = {}): StreamReply {
  const chunks = toChunks(sse);
  async function* source() {
    for (let i = 0; i < chunks.length; i++) {
      if (options.failAfter !== undefined && i === options.failAfter)
        throw new Error('upstream connection reset');
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      yield chunks[i];
    }
  }
  return {
    kind: 'stream',
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8' },
    chunks: source(),
  };
}

export function jsonReply(body: unknown, status = 200): Reply {
  const bytes = encoder.encode(JSON.stringify(body));
  return { kind: 'json', status, headers: { 'content-type': 'application/json' }, body: bytes, parsed: body };
}

export interface CtxOptions {
  dialect?: Dialect;
  route?: RouteName;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
  caller?: Caller;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export const OPENAI_BODY = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'What is the capital of France?' }],
  temperature: 0,
};

export const ANTHROPIC_BODY = {
  model: 'claude-sonnet-4-6',
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'Weather in Paris?' }],
  temperature: 0,
};

export function makeCtx(options: CtxOptions = {}): RequestContext {
  const dialect = options.dialect ?? 'openai';
  const ctx = createContext({
    dialect,
    route: options.route ?? (dialect === 'anthropic' ? 'messages' : 'chat'),
    headers: options.headers ?? {},
    body: structuredClone(options.body ?? (dialect === 'anthropic' ? ANTHROPIC_BODY : OPENAI_BODY)),
    signal: options.signal ?? new AbortController().signal,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  ctx.caller = options.caller ?? { user: 'ann', team: 'blue' };
  return ctx;
}

/** Read a reply to the end: the JSON body, or the SSE text of a stream. */
export async function readReply(reply: Reply): Promise<string> {
  if (reply.kind === 'json') return decoder.decode(reply.body);
  let text = '';
  for await (const piece of reply.chunks) text += decoder.decode(piece, { stream: true });
  return text + decoder.decode();
}
