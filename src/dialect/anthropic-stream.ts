import { LazyEvent, type SseEvent } from './sse.js';
import type { Aggregate, ParsedEvent, StreamAggregator } from './types.js';
import { slices, textPieces } from './text-pieces.js';

/**
 * Anthropic Messages streams, both ways: rebuild the `Message` an event sequence amounts to,
 * and replay a stored `Message` as `message_start … message_stop`.
 */

type Json = Record<string, unknown>;

interface BlockAcc {
  block: Json;
  /** Accumulated `input_json_delta` text of a tool_use / server_tool_use block. */
  json?: string;
}

/**
 * Feed it the events of one stream. It refuses a stream that errored, never reached
 * `message_stop`, or carried a delta type it does not know (a lossy rebuild must not be cached).
 */
export class AnthropicStreamAggregator implements StreamAggregator {
  #message: Json | undefined;
  readonly #blocks: BlockAcc[] = [];
  #stopped = false;
  #failure: string | undefined;

  push(event: ParsedEvent): void {
    if (this.#failure) return;
    const data = event.json() as Json | undefined;
    if (!data || typeof data !== 'object') {
      this.#failure = 'an event is not JSON';
      return;
    }
    const type = (data.type as string | undefined) ?? event.event;
    switch (type) {
      case 'message_start':
        this.#message = { ...((data.message ?? {}) as Json) };
        break;
      case 'content_block_start':
        this.#blocks[Number(data.index)] = { block: { ...((data.content_block ?? {}) as Json) } };
        break;
      case 'content_block_delta':
        this.#delta(Number(data.index), (data.delta ?? {}) as Json);
        break;
      case 'content_block_stop':
        this.#closeBlock(Number(data.index));
        break;
      case 'message_delta':
        this.#messageDelta(data);
        break;
      case 'message_stop':
        this.#stopped = true;
        break;
      case 'ping':
        break;
      case 'error':
        this.#failure = 'the stream carried an error';
        break;
      default:
        this.#failure = `unsupported event '${type}'`;
    }
  }

  finish(): Aggregate<Json> {
    if (this.#failure) return { ok: false, reason: this.#failure };
    if (!this.#message) return { ok: false, reason: 'no message_start' };
    if (!this.#stopped) return { ok: false, reason: 'no message_stop' };
    if (this.#blocks.some((b) => b.json !== undefined))
      return { ok: false, reason: 'a tool block never stopped' };
    return {
      ok: true,
      response: { ...this.#message, content: this.#blocks.filter(Boolean).map((b) => b.block) },
    };
  }

  #delta(index: number, delta: Json): void {
    const acc = this.#blocks[index];
    if (!acc) {
      this.#failure = 'a delta for a block that never started';
      return;
    }
    const block = acc.block;
    switch (delta.type) {
      case 'text_delta':
        block.text = String(block.text ?? '') + String(delta.text ?? '');
        break;
      case 'input_json_delta':
        acc.json = (acc.json ?? '') + String(delta.partial_json ?? '');
        break;
      case 'thinking_delta':
        block.thinking = String(block.thinking ?? '') + String(delta.thinking ?? '');
        break;
      case 'signature_delta':
        block.signature = String(delta.signature ?? '');
        break;
      case 'citations_delta':
        block.citations = [...((block.citations as unknown[] | undefined) ?? []), delta.citation];
        break;
      default:
        this.#failure = `unsupported delta '${String(delta.type)}'`;
    }
  }

  #closeBlock(index: number): void {
    const acc = this.#blocks[index];
    if (!acc || acc.json === undefined) return;
    try {
      // An empty tool input arrives as no deltas or as '' (the API sends `{}` for it).
      acc.block.input = acc.json.trim() === '' ? {} : JSON.parse(acc.json);
      acc.json = undefined;
    } catch {
      this.#failure = 'tool input is not JSON';
    }
  }

  #messageDelta(data: Json): void {
    if (!this.#message) {
      this.#failure = 'message_delta before message_start';
      return;
    }
    Object.assign(this.#message, (data.delta ?? {}) as Json);
    const usage = data.usage as Json | undefined;
    if (usage) {
      const merged: Json = { ...((this.#message.usage ?? {}) as Json) };
      // The counters in message_delta are cumulative totals: overwrite, never add.
      for (const [field, value] of Object.entries(usage))
        if (value !== null && value !== undefined) merged[field] = value;
      this.#message.usage = merged;
    }
  }
}

export function aggregateAnthropicStream(events: Iterable<SseEvent>): Aggregate<Json> {
  const aggregator = new AnthropicStreamAggregator();
  for (const event of events) aggregator.push(LazyEvent.from(event));
  return aggregator.finish();
}

/** One replayed SSE event: name and JSON payload. */
export interface NamedEvent {
  event: string;
  data: string;
}

/**
 * A stored `Message` as the events Anthropic would have sent. Text and thinking go out in
 * natural pieces, tool input as `input_json_delta` slices of its JSON, signatures and
 * citations as their own deltas; blocks without deltas (redacted thinking, server tool
 * results) start complete. The final usage rides on `message_delta`, as the API does.
 */
export function replayAnthropic(message: Json): NamedEvent[] {
  const out: NamedEvent[] = [];
  const emit = (data: Json) => out.push({ event: String(data.type), data: JSON.stringify(data) });
  const usage = (message.usage ?? {}) as Json;
  const { content, stop_reason, stop_sequence, stop_details, ...rest } = message;
  emit({
    type: 'message_start',
    message: {
      ...rest,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 0 },
    },
  });
  const blocks = Array.isArray(content) ? (content as Json[]) : [];
  for (let index = 0; index < blocks.length; index++) replayBlock(blocks[index], index, emit);
  const delta: Json = { stop_reason: stop_reason ?? 'end_turn', stop_sequence: stop_sequence ?? null };
  if (stop_details !== undefined) delta.stop_details = stop_details;
  emit({ type: 'message_delta', delta, usage });
  emit({ type: 'message_stop' });
  return out;
}

function replayBlock(block: Json, index: number, emit: (data: Json) => void): void {
  const delta = (d: Json) => emit({ type: 'content_block_delta', index, delta: d });
  const start = (contentBlock: Json) =>
    emit({ type: 'content_block_start', index, content_block: contentBlock });
  switch (block.type) {
    case 'text': {
      const { text, citations, ...other } = block;
      start({ ...other, text: '' });
      for (const piece of textPieces(String(text ?? ''))) delta({ type: 'text_delta', text: piece });
      if (Array.isArray(citations))
        for (const citation of citations) delta({ type: 'citations_delta', citation });
      break;
    }
    case 'thinking': {
      const { thinking, signature, ...other } = block;
      start({ ...other, thinking: '', signature: '' });
      for (const piece of textPieces(String(thinking ?? '')))
        delta({ type: 'thinking_delta', thinking: piece });
      if (typeof signature === 'string' && signature) delta({ type: 'signature_delta', signature });
      break;
    }
    case 'tool_use':
    case 'server_tool_use':
    case 'mcp_tool_use': {
      const { input, ...other } = block;
      start({ ...other, input: {} });
      const json = JSON.stringify(input ?? {});
      if (json !== '{}')
        for (const part of slices(json, 16)) delta({ type: 'input_json_delta', partial_json: part });
      break;
    }
    default:
      start(block);
  }
  emit({ type: 'content_block_stop', index });
}
