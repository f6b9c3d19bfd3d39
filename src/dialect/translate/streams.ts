/**
 * Stream transducers: fed the upstream's parsed SSE events one by one, they return the SSE
 * text the client's dialect expects. Stateful, one per stream, no I/O.
 *  - `MessagesToChatStream`: Anthropic message_start / content_block_* / message_delta /
 *    message_stop → OpenAI chat.completion.chunk deltas (tool calls by index), the usage chunk
 *    only when the client asked for it, then `data: [DONE]`.
 *  - `ChatToMessagesStream`: the reverse; content, reasoning and each tool call become their
 *    own content block, usage goes out in message_delta.
 * An upstream error event becomes the client's error event. `end()` throws when the upstream
 * stopped before finishing (the caller reports it in the stream: `fail()` renders it).
 */
import { SluiceError } from '../../errors.js';
import { DIALECTS } from '../index.js';
import { LazyEvent, type SseEvent } from '../sse.js';
import { translateErrorBody } from './errors.js';
import { isRecord, type Json, str, unrepresentable, type WireDialect } from './json.js';
import { chatUsageOf, finishReasonOf, messagesUsageOf, stopReasonOf } from './replies.js';

export interface StreamTransducer {
  /** The client's SSE text for one upstream event ('' when it has no counterpart). */
  push(event: SseEvent): string;
  /** Closing text once the upstream ended; throws an `upstream_error` if it ended unfinished. */
  end(): string;
  /** The client's error event for a failure mid-stream; nothing is sent after it. */
  fail(error: SluiceError): string;
}

/** The event's JSON object; a parser's event shares its one parse with the usage meter. */
const parse = (event: SseEvent): Json | undefined => {
  let v: unknown;
  if (event instanceof LazyEvent) v = event.json();
  else {
    try {
      v = JSON.parse(event.data);
    } catch {
      return undefined;
    }
  }
  return isRecord(v) ? v : undefined;
};

/**
 * A text delta as Anthropic sends it (the bulk of a stream's events), its text a well-formed
 * JSON string literal (no raw control characters, only JSON's escapes). The literal can go
 * into the chat chunk as it is: no parse, no object, no stringify per token. Anything else
 * (other key order, spacing, fields) takes the general path.
 */
const TEXT_DELTA =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in a string; the class excludes them.
  /^\{"type":"content_block_delta","index":(?:0|[1-9]\d*),"delta":\{"type":"text_delta","text":("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")\}\}$/;

const unfinished = () =>
  new SluiceError('upstream_error', 'the upstream stream ended before the reply was complete');

abstract class Transducer implements StreamTransducer {
  protected done = false;
  protected abstract readonly client: WireDialect;

  push(event: SseEvent): string {
    if (this.done) return '';
    try {
      return this.onEvent(event);
    } catch (e) {
      if (e instanceof SluiceError) return this.fail(e);
      throw e;
    }
  }

  fail(error: SluiceError): string {
    if (this.done) return '';
    this.done = true;
    return DIALECTS[this.client].errorEvent(error);
  }

  /** The upstream's own error event, in the client's shape. */
  protected upstreamError(upstream: WireDialect, data: Json): string {
    this.done = true;
    const body = translateErrorBody(upstream, this.client, 500, data);
    return this.client === 'anthropic'
      ? `event: error\ndata: ${JSON.stringify(body)}\n\n`
      : `data: ${JSON.stringify(body)}\n\n`;
  }

  abstract end(): string;
  protected abstract onEvent(event: SseEvent): string;
}

export interface MessagesToChatOptions {
  /** The client asked for `stream_options.include_usage`. */
  includeUsage: boolean;
  /** Used when the upstream names no model. */
  requestedModel: string;
}

/** Anthropic upstream → OpenAI client. */
export class MessagesToChatStream extends Transducer {
  protected readonly client = 'openai';
  readonly #includeUsage: boolean;
  #id = '';
  #model: string;
  readonly #created = Math.floor(Date.now() / 1000);
  #usage: Json = {};
  #stopReason: unknown;
  /** Anthropic content-block index → OpenAI tool_calls index. */
  readonly #toolIndex = new Map<number, number>();

  /**
   * Every chunk's text up to its delta: `JSON.stringify` of the head and `choices[0].index`,
   * made again only when message_start changes the id or model.
   */
  #chunkPrefix = '';

  constructor(opts: MessagesToChatOptions) {
    super();
    this.#includeUsage = opts.includeUsage;
    this.#model = opts.requestedModel;
    this.#setHead();
  }

  protected onEvent(event: SseEvent): string {
    if (event.event === undefined || event.event === 'content_block_delta') {
      const text = TEXT_DELTA.exec(event.data)?.[1];
      if (text !== undefined) return `${this.#chunkPrefix}{"content":${text}}${CHUNK_END_UNFINISHED}`;
    } else if (!TRANSLATED_EVENTS.has(event.event)) {
      return ''; // ping, content_block_stop: nothing to parse
    }
    const data = parse(event);
    if (!data) return '';
    switch (event.event ?? str(data.type)) {
      case 'message_start': {
        const message = isRecord(data.message) ? data.message : {};
        this.#id = str(message.id);
        this.#model = str(message.model) || this.#model;
        this.#setHead();
        if (isRecord(message.usage)) this.#usage = { ...message.usage };
        return this.#chunk({ role: 'assistant', content: '' }, null);
      }
      case 'content_block_start':
        return this.#blockStart(Number(data.index), isRecord(data.content_block) ? data.content_block : {});
      case 'content_block_delta':
        return this.#blockDelta(Number(data.index), isRecord(data.delta) ? data.delta : {});
      case 'message_delta':
        if (isRecord(data.delta) && data.delta.stop_reason != null) this.#stopReason = data.delta.stop_reason;
        if (isRecord(data.usage)) this.#usage = { ...this.#usage, ...withoutNulls(data.usage) };
        return '';
      case 'message_stop': {
        this.done = true;
        let out = this.#chunk({}, finishReasonOf(this.#stopReason));
        if (this.#includeUsage)
          out += this.#frame({ ...this.#head(), choices: [], usage: chatUsageOf(this.#usage) });
        return `${out}data: [DONE]\n\n`;
      }
      case 'error':
        return this.upstreamError('anthropic', data);
      default:
        return ''; // ping, content_block_stop
    }
  }

  end(): string {
    if (!this.done) throw unfinished();
    return '';
  }

  #blockStart(index: number, block: Json): string {
    switch (block.type) {
      case 'text':
        return str(block.text) ? this.#chunk({ content: block.text }, null) : '';
      case 'thinking':
        return str(block.thinking) ? this.#chunk({ reasoning_content: block.thinking }, null) : '';
      case 'redacted_thinking':
        return '';
      case 'tool_use': {
        const toolIndex = this.#toolIndex.size;
        this.#toolIndex.set(index, toolIndex);
        const call = {
          index: toolIndex,
          id: str(block.id),
          type: 'function',
          function: { name: str(block.name), arguments: '' },
        };
        return this.#chunk({ tool_calls: [call] }, null);
      }
      default:
        throw unrepresentable('openai', `a ${JSON.stringify(block.type)} content block`);
    }
  }

  #blockDelta(index: number, delta: Json): string {
    switch (delta.type) {
      case 'text_delta':
        return this.#chunk({ content: str(delta.text) }, null);
      case 'thinking_delta':
        return this.#chunk({ reasoning_content: str(delta.thinking) }, null);
      case 'input_json_delta': {
        const toolIndex = this.#toolIndex.get(index);
        if (toolIndex === undefined)
          throw unrepresentable('openai', 'tool input for a block that is not a tool call');
        return this.#chunk(
          { tool_calls: [{ index: toolIndex, function: { arguments: str(delta.partial_json) } }] },
          null,
        );
      }
      default:
        return ''; // signature_delta, citations_delta: no OpenAI counterpart, not content
    }
  }

  #head(): Json {
    return { id: this.#id, object: 'chat.completion.chunk', created: this.#created, model: this.#model };
  }

  #setHead(): void {
    this.#chunkPrefix = `data: ${JSON.stringify(this.#head()).slice(0, -1)},"choices":[{"index":0,"delta":`;
  }

  /** `#frame` of the head and one choice, from the cached prefix: the same text. */
  #chunk(delta: Json, finishReason: string | null): string {
    const end =
      finishReason === null
        ? CHUNK_END_UNFINISHED
        : `,"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]}\n\n`;
    return `${this.#chunkPrefix}${JSON.stringify(delta)}${end}`;
  }

  #frame(chunk: Json): string {
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}

/** The Anthropic events with a chat counterpart (or an effect on a later chunk). */
const TRANSLATED_EVENTS = new Set([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'message_delta',
  'message_stop',
  'error',
]);

const CHUNK_END_UNFINISHED = ',"logprobs":null,"finish_reason":null}]}\n\n';

function withoutNulls(o: Json): Json {
  const out: Json = {};
  for (const k of Object.keys(o)) if (o[k] !== null && o[k] !== undefined) out[k] = o[k];
  return out;
}

export interface ChatToMessagesOptions {
  requestedModel: string;
}

type OpenBlock = { index: number; kind: 'text' | 'thinking' | 'tool'; toolIndex?: number };

/** OpenAI upstream → Anthropic client. */
export class ChatToMessagesStream extends Transducer {
  protected readonly client = 'anthropic';
  #started = false;
  #model: string;
  #open: OpenBlock | undefined;
  #nextIndex = 0;
  /** OpenAI tool_calls index → Anthropic content-block index. */
  readonly #toolBlocks = new Map<number, number>();
  #finishReason: unknown;
  #usage: unknown;

  constructor(opts: ChatToMessagesOptions) {
    super();
    this.#model = opts.requestedModel;
  }

  protected onEvent(event: SseEvent): string {
    if (event.data === '[DONE]') return this.#finish();
    const chunk = parse(event);
    if (!chunk) return '';
    if (chunk.error !== undefined && chunk.error !== null) return this.upstreamError('openai', chunk);
    let out = this.#start(chunk);
    if (isRecord(chunk.usage)) this.#usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) && isRecord(chunk.choices[0]) ? chunk.choices[0] : undefined;
    if (!choice) return out;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    const reasoning = str(delta.reasoning_content) || str(delta.reasoning);
    if (reasoning)
      out += this.#ensure('thinking') + this.#delta({ type: 'thinking_delta', thinking: reasoning });
    const text = str(delta.content) || str(delta.refusal);
    if (text) out += this.#ensure('text') + this.#delta({ type: 'text_delta', text });
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) out += this.#toolCall(call);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
      this.#finishReason = choice.finish_reason;
      out += this.#close();
    }
    return out;
  }

  end(): string {
    if (this.done) return '';
    // Some OpenAI-compatible servers end after the finish reason without `[DONE]`.
    if (this.#finishReason !== undefined) return this.#finish();
    throw unfinished();
  }

  #start(chunk: Json): string {
    if (this.#started) return '';
    this.#started = true;
    this.#model = str(chunk.model) || this.#model;
    const message = {
      id: str(chunk.id),
      type: 'message',
      role: 'assistant',
      model: this.#model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // Known only at the end (OpenAI reports usage last): the full figures go out in message_delta.
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    return event('message_start', { type: 'message_start', message });
  }

  #toolCall(call: unknown): string {
    if (!isRecord(call)) return '';
    const toolIndex = typeof call.index === 'number' ? call.index : 0;
    const fn = isRecord(call.function) ? call.function : {};
    let out = '';
    if (!this.#toolBlocks.has(toolIndex)) {
      out += this.#close();
      const index = this.#nextIndex++;
      this.#toolBlocks.set(toolIndex, index);
      this.#open = { index, kind: 'tool', toolIndex };
      const block = { type: 'tool_use', id: str(call.id), name: str(fn.name), input: {} };
      out += event('content_block_start', { type: 'content_block_start', index, content_block: block });
    } else if (this.#open?.toolIndex !== toolIndex) {
      throw unrepresentable('anthropic', 'interleaved tool call deltas');
    }
    const args = str(fn.arguments);
    if (args) out += this.#delta({ type: 'input_json_delta', partial_json: args });
    return out;
  }

  /** Open a text or thinking block unless one of that kind is open. */
  #ensure(kind: 'text' | 'thinking'): string {
    if (this.#open?.kind === kind) return '';
    const out = this.#close();
    const index = this.#nextIndex++;
    this.#open = { index, kind };
    const block =
      kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    return out + event('content_block_start', { type: 'content_block_start', index, content_block: block });
  }

  #delta(delta: Json): string {
    return event('content_block_delta', {
      type: 'content_block_delta',
      index: this.#open?.index ?? 0,
      delta,
    });
  }

  #close(): string {
    if (!this.#open) return '';
    const index = this.#open.index;
    this.#open = undefined;
    return event('content_block_stop', { type: 'content_block_stop', index });
  }

  #finish(): string {
    if (this.done) return '';
    let out = this.#start({}) + this.#close();
    this.done = true;
    out += event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReasonOf(this.#finishReason), stop_sequence: null },
      usage: messagesUsageOf(this.#usage),
    });
    return out + event('message_stop', { type: 'message_stop' });
  }
}

function event(name: string, data: Json): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
