/**
 * A whole Responses object as the typed event sequence the API streams (for replaying a cached
 * answer), and the other way: a streamed reply's events back to the object (for storing one).
 */
import type { SseEvent } from '../sse.js';

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Characters per replayed text delta: naturally sized pieces, not one event per character. */
const DELTA_CHARS = 64;

function pieces(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + DELTA_CHARS);
    // Never split a surrogate pair across two deltas.
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end++;
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/** The events (name and data) a stream answering `response` consists of, with sequence numbers. */
export function replayResponseEvents(response: Readonly<Json>): Array<{ event: string; data: string }> {
  const out: Array<{ event: string; data: string }> = [];
  const emit = (type: string, fields: Json) =>
    out.push({ event: type, data: JSON.stringify({ type, sequence_number: out.length, ...fields }) });
  const output = Array.isArray(response.output) ? response.output.filter(isRecord) : [];
  const pending = { ...response, status: 'in_progress', incomplete_details: null, output: [], usage: null };
  emit('response.created', { response: pending });
  emit('response.in_progress', { response: pending });
  output.forEach((item, index) => {
    const id = item.id;
    const at = { item_id: id, output_index: index };
    if (item.type === 'message') {
      emit('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', content: [] },
      });
      const content = Array.isArray(item.content) ? item.content.filter(isRecord) : [];
      content.forEach((part, j) => {
        const where = { ...at, content_index: j };
        if (part.type === 'refusal') {
          const refusal = String(part.refusal ?? '');
          emit('response.content_part.added', { ...where, part: { type: 'refusal', refusal: '' } });
          for (const delta of pieces(refusal)) emit('response.refusal.delta', { ...where, delta });
          emit('response.refusal.done', { ...where, refusal });
        } else {
          const text = String(part.text ?? '');
          emit('response.content_part.added', { ...where, part: { ...part, text: '', annotations: [] } });
          for (const delta of pieces(text))
            emit('response.output_text.delta', { ...where, delta, logprobs: [] });
          emit('response.output_text.done', { ...where, text, logprobs: [] });
        }
        emit('response.content_part.done', { ...where, part });
      });
    } else if (item.type === 'function_call') {
      const args = String(item.arguments ?? '');
      emit('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', arguments: '' },
      });
      for (const delta of pieces(args)) emit('response.function_call_arguments.delta', { ...at, delta });
      emit('response.function_call_arguments.done', { ...at, name: item.name, arguments: args });
    } else if (item.type === 'reasoning') {
      emit('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', summary: [] },
      });
      const summary = Array.isArray(item.summary) ? item.summary.filter(isRecord) : [];
      summary.forEach((part, j) => {
        const where = { ...at, summary_index: j };
        const text = String(part.text ?? '');
        emit('response.reasoning_summary_part.added', { ...where, part: { type: 'summary_text', text: '' } });
        for (const delta of pieces(text)) emit('response.reasoning_summary_text.delta', { ...where, delta });
        emit('response.reasoning_summary_text.done', { ...where, text });
        emit('response.reasoning_summary_part.done', { ...where, part });
      });
    } else {
      // Items with no delta events of their own (built-in tool calls) arrive whole.
      emit('response.output_item.added', { output_index: index, item });
    }
    emit('response.output_item.done', { output_index: index, item });
  });
  emit(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
  return out;
}

export type Aggregate = { ok: true; response: Json } | { ok: false; reason: string };

/** Rebuilds the response of a stream: its closing event carries the whole object. */
export class ResponsesStreamAggregator {
  #response: Json | undefined;
  #failure: string | undefined;

  push(event: SseEvent): void {
    const type = event.event;
    if (
      type !== undefined &&
      type !== 'response.completed' &&
      type !== 'response.incomplete' &&
      type !== 'response.failed' &&
      type !== 'error'
    )
      return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!isRecord(data)) return;
    if (data.type === 'response.completed' || data.type === 'response.incomplete') {
      if (isRecord(data.response)) this.#response = data.response;
    } else if (data.type === 'response.failed' || data.type === 'error')
      this.#failure = `stream ended with ${data.type}`;
  }

  finish(): Aggregate {
    if (this.#failure) return { ok: false, reason: this.#failure };
    if (!this.#response) return { ok: false, reason: 'stream ended without response.completed' };
    return { ok: true, response: this.#response };
  }
}
