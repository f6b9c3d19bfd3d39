/**
 * Usage of streamed replies: read the provider's own numbers from the SSE events, make OpenAI
 * send them (`stream_options.include_usage`), hide that extra chunk from clients that did not
 * ask for it, and only when the provider reports nothing fall back to a local, flagged count.
 */
import type { Dialect } from '../pipeline/types.js';
import { SseParser } from '../upstream/sse.js';
import { countText } from './count.js';
import { type UsageDetail, normaliseUsage } from './usage.js';

/** Raw event data kept for the local fallback count, at most this many characters. */
const MAX_FALLBACK_CHARS = 4_000_000;
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
/** Anthropic names every event; its `type` field says the same when a proxy dropped the name. */
const EVENT_TYPE = /"type"\s*:\s*"(\w+)"/;
/** The Responses API's event types are dotted (`response.output_text.delta`). */
const EVENT_TYPE_DOTTED = /"type"\s*:\s*"([\w.]+)"/;
/** The Responses API's closing events carry the whole response, usage included. */
const RESPONSES_FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Fed every raw SSE chunk of a stream in order. `usage()` gives the provider's usage when the
 * stream carried one; otherwise an estimate of the output tokens (counted locally from the
 * streamed text) with `estimated: true` and `inputTokens: 0` — the input side of such an
 * estimate must come from the prompt count (see `cost/usage-resolve.ts`).
 */
export class StreamUsageMeter {
  readonly #dialect: Dialect;
  readonly #model: string;
  readonly #parser = new SseParser();
  /** Anthropic spreads usage over message_start and message_delta; later fields win. */
  #raw: Record<string, unknown> | undefined;
  #pending: string[] = [];
  #pendingChars = 0;

  constructor(dialect: Dialect, model = '') {
    this.#dialect = dialect;
    this.#model = model;
  }

  feed(chunk: Uint8Array): void {
    for (const event of this.#parser.feed(chunk)) this.#onEvent(event.event, event.data);
  }

  /** Flush a last event that lacked its blank line. */
  end(): void {
    for (const event of this.#parser.end()) this.#onEvent(event.event, event.data);
  }

  /** The provider's usage, if the stream has carried one so far. */
  providerUsage(): UsageDetail | undefined {
    return this.#raw ? normaliseUsage(this.#dialect, this.#raw) : undefined;
  }

  usage(): UsageDetail | undefined {
    this.end();
    const reported = this.providerUsage();
    if (reported) return reported;
    const text = this.outputText();
    if (!text) return undefined;
    return {
      inputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: countText(text, this.#model).tokens,
      estimated: true,
    };
  }

  /** Text the model produced (content, tool arguments, reasoning), parsed only when needed. */
  outputText(): string {
    let out = '';
    for (const data of this.#pending) {
      const piece =
        this.#dialect === 'anthropic'
          ? anthropicDeltaText(data)
          : this.#dialect === 'responses'
            ? responsesDeltaText(data)
            : openAIDeltaText(data);
      if (piece) out += piece;
    }
    return out;
  }

  #onEvent(name: string | undefined, data: string): void {
    if (this.#dialect === 'anthropic') {
      const type = name ?? EVENT_TYPE.exec(data)?.[1] ?? '';
      if (type === 'message_start' || type === 'message_delta') {
        const parsed = parse(data);
        const usage = (type === 'message_start' ? parsed?.message?.usage : parsed?.usage) as
          | Record<string, unknown>
          | undefined;
        if (usage && typeof usage === 'object') this.#raw = { ...this.#raw, ...usage };
        return;
      }
      if (type === 'content_block_delta') this.#keep(data);
      return;
    }
    if (this.#dialect === 'responses') {
      const type = name ?? EVENT_TYPE_DOTTED.exec(data)?.[1] ?? '';
      if (RESPONSES_FINAL_EVENTS.has(type)) {
        const usage = parse(data)?.response?.usage;
        if (usage && typeof usage === 'object') this.#raw = usage as Record<string, unknown>;
      } else if (type.endsWith('.delta')) this.#keep(data);
      return;
    }
    if (data === '[DONE]') return;
    if (USAGE_OBJECT.test(data)) {
      const usage = parse(data)?.usage;
      // Some servers send cumulative usage on every chunk: the last one wins.
      if (usage && typeof usage === 'object') this.#raw = usage as Record<string, unknown>;
    }
    this.#keep(data);
  }

  #keep(data: string): void {
    if (this.#pendingChars > MAX_FALLBACK_CHARS) return;
    this.#pending.push(data);
    this.#pendingChars += data.length;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: event payloads are untyped JSON, read defensively
function parse(data: string): any {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function openAIDeltaText(data: string): string {
  const choices = parse(data)?.choices;
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

/** Text of a Responses delta event (output text, refusal, function arguments, reasoning). */
function responsesDeltaText(data: string): string {
  const delta = parse(data)?.delta;
  return typeof delta === 'string' ? delta : '';
}

function anthropicDeltaText(data: string): string {
  const d = parse(data)?.delta;
  if (!d) return '';
  if (typeof d.text === 'string') return d.text;
  if (typeof d.partial_json === 'string') return d.partial_json;
  if (typeof d.thinking === 'string') return d.thinking;
  return '';
}

export interface PreparedStream {
  body: Record<string, unknown>;
  /** Applied to the stream on its way to the client (after usage has been read from it). */
  transform?: (chunks: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;
}

/**
 * Make an OpenAI-dialect stream carry usage: add `stream_options.include_usage` when the client
 * did not ask for it, and strip the extra usage chunk again on the way back. Anthropic streams
 * always carry usage; their body is left as it is.
 */
export function requestStreamUsage(dialect: Dialect, body: Record<string, unknown>): PreparedStream {
  if (dialect !== 'openai') return { body };
  const options = body.stream_options as { include_usage?: unknown } | undefined;
  if (options?.include_usage === true) return { body };
  return {
    body: {
      ...body,
      stream_options: { ...(options && typeof options === 'object' ? options : {}), include_usage: true },
    },
    transform: stripUsageChunks,
  };
}

const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY_CHOICES = [Buffer.from('"choices":[]'), Buffer.from('"choices": []')];

/**
 * Remove the usage-only chunk (`"choices": []` plus a `usage` object) that `include_usage`
 * adds to an OpenAI stream. Works on bytes: complete events pass through untouched unless they
 * may hold that chunk; an unfinished event is held until its blank line arrives (a client
 * cannot use half an event anyway), so the bytes that reach the client are the upstream's
 * bytes minus exactly that event.
 */
export async function* stripUsageChunks(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let pending: Buffer | undefined;
  for await (const chunk of source) {
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = pending ? Buffer.concat([pending, view]) : view;
    const end = lastEventEnd(buf);
    if (end === -1) {
      pending = Buffer.from(buf);
      continue;
    }
    pending = end < buf.length ? Buffer.from(buf.subarray(end)) : undefined;
    const complete = end === buf.length ? buf : buf.subarray(0, end);
    if (!EMPTY_CHOICES.some((p) => complete.includes(p))) {
      yield complete === view ? chunk : complete;
      continue;
    }
    const kept = dropUsageOnlyEvents(complete.toString('utf8'));
    if (kept) yield Buffer.from(kept, 'utf8');
  }
  if (pending && pending.length > 0) {
    const kept = dropUsageOnlyEvents(pending.toString('utf8'));
    if (kept) yield Buffer.from(kept, 'utf8');
  }
}

function lastEventEnd(buf: Buffer): number {
  const lf = buf.lastIndexOf(LF2);
  const crlf = buf.lastIndexOf(CRLF2);
  return Math.max(lf === -1 ? -1 : lf + 2, crlf === -1 ? -1 : crlf + 4);
}

/** Drop events whose data is a usage-only chunk, keeping every other byte as it was. */
function dropUsageOnlyEvents(text: string): string {
  const parts = text.split(/(\r?\n\r?\n)/);
  let out = '';
  for (let i = 0; i < parts.length; i += 2) {
    const block = parts[i];
    const sep = parts[i + 1] ?? '';
    if (isUsageOnlyBlock(block)) continue;
    out += block + sep;
  }
  return out;
}

function isUsageOnlyBlock(block: string): boolean {
  if (!USAGE_OBJECT.test(block)) return false;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
  }
  const parsed = parse(data.join('\n'));
  return (
    Array.isArray(parsed?.choices) &&
    parsed.choices.length === 0 &&
    parsed.usage &&
    typeof parsed.usage === 'object'
  );
}
