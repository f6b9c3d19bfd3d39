/**
 * A chat completions SSE stream as the Responses API's typed events, one chat chunk at a time.
 * Items open as their first delta arrives (reasoning, message, each function call), close
 * (their `.done` events) when another kind begins or the stream finishes, and the last event
 * (`response.completed`, or `response.incomplete` when cut at the output cap) carries the whole
 * response with usage, which the chat stream must report (`stream_options.include_usage`).
 */
import type { SseEvent } from '../sse.js';
import {
  functionCallItem,
  itemId,
  messageItem,
  outputTextPart,
  reasoningItem,
  responseEnvelope,
  responseId,
  responsesUsage,
  statusOf,
} from './reply.js';

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface OpenItem {
  kind: 'reasoning' | 'message' | 'function_call';
  id: string;
  outputIndex: number;
  /** Reasoning text, or a function call's arguments. */
  text: string;
  /** Message parts so far; the last one is the open part. */
  parts: Array<{ type: 'output_text' | 'refusal'; text: string }>;
  callId: string;
  name: string;
  done: boolean;
  final?: Json;
}

/** Turns one chat completions stream into Responses events. Not reusable across streams. */
export class ChatToResponsesStream {
  readonly #request: Readonly<Json>;
  #sequence = 0;
  #started = false;
  #finished = false;
  #chatId = 'chatcmpl-translated';
  #createdAt = Math.floor(Date.now() / 1000);
  #model: unknown;
  readonly #items: OpenItem[] = [];
  #message: OpenItem | undefined;
  #reasoning: OpenItem | undefined;
  readonly #calls = new Map<number, OpenItem>();
  #finishReason: unknown;
  #usage: unknown;

  constructor(request: Readonly<Json>) {
    this.#request = request;
    this.#model = request.model;
  }

  /** SSE text for one chat stream event (possibly empty). */
  push(event: SseEvent): string {
    if (this.#finished) return '';
    if (event.data === '[DONE]') return this.#finish();
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      return '';
    }
    if (!isRecord(chunk)) return '';
    if (isRecord(chunk.error)) return this.#fail(chunk.error);
    let out = this.#start(chunk);
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = Array.isArray(chunk.choices)
      ? chunk.choices.find((c) => isRecord(c) && (c.index ?? 0) === 0)
      : undefined;
    if (!isRecord(choice)) return out;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning !== '') out += this.#reasoningDelta(reasoning);
    if (typeof delta.content === 'string' && delta.content !== '')
      out += this.#textDelta('output_text', delta.content);
    if (typeof delta.refusal === 'string' && delta.refusal !== '')
      out += this.#textDelta('refusal', delta.refusal);
    if (Array.isArray(delta.tool_calls))
      for (const call of delta.tool_calls) if (isRecord(call)) out += this.#callDelta(call);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined)
      this.#finishReason = choice.finish_reason;
    return out;
  }

  /**
   * The closing events once the chat stream has ended. A stream that ended without its finish
   * reason was cut: it closes with `response.failed`, never a `response.completed` that would
   * pass a partial answer off as whole.
   */
  end(): string {
    if (this.#finished) return '';
    return this.#finish();
  }

  #event(type: string, fields: Json): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#sequence++, ...fields })}\n\n`;
  }

  #response(status: string, incomplete: Json | null, usage: Json | null, output: Json[]): Json {
    return responseEnvelope(
      this.#request,
      { id: responseId(this.#chatId), createdAt: this.#createdAt, model: this.#model, status, incomplete },
      output,
      usage,
    );
  }

  #start(chunk: Json): string {
    if (this.#started) return '';
    this.#started = true;
    if (typeof chunk.id === 'string') this.#chatId = chunk.id;
    if (typeof chunk.created === 'number') this.#createdAt = chunk.created;
    if (chunk.model !== undefined) this.#model = chunk.model;
    const pending = this.#response('in_progress', null, null, []);
    return (
      this.#event('response.created', { response: pending }) +
      this.#event('response.in_progress', { response: pending })
    );
  }

  #open(kind: OpenItem['kind'], prefix: string): OpenItem {
    const item: OpenItem = {
      kind,
      id: itemId(prefix, this.#chatId, this.#items.length),
      outputIndex: this.#items.length,
      text: '',
      parts: [],
      callId: '',
      name: '',
      done: false,
    };
    this.#items.push(item);
    return item;
  }

  #reasoningDelta(text: string): string {
    let out = '';
    if (!this.#reasoning) {
      out += this.#closeMessage();
      const item = this.#open('reasoning', 'rs');
      this.#reasoning = item;
      out += this.#event('response.output_item.added', {
        output_index: item.outputIndex,
        item: reasoningItem(item.id, '', 'in_progress'),
      });
      out += this.#event('response.reasoning_summary_part.added', {
        item_id: item.id,
        output_index: item.outputIndex,
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
      });
    }
    const item = this.#reasoning;
    item.text += text;
    return (
      out +
      this.#event('response.reasoning_summary_text.delta', {
        item_id: item.id,
        output_index: item.outputIndex,
        summary_index: 0,
        delta: text,
      })
    );
  }

  #textDelta(type: 'output_text' | 'refusal', text: string): string {
    let out = this.#closeReasoning();
    if (!this.#message) {
      const item = this.#open('message', 'msg');
      this.#message = item;
      out += this.#event('response.output_item.added', {
        output_index: item.outputIndex,
        item: messageItem(item.id, [], 'in_progress'),
      });
    }
    const item = this.#message;
    let part = item.parts.at(-1);
    if (part?.type !== type) {
      if (part) out += this.#closePart(item);
      part = { type, text: '' };
      item.parts.push(part);
      out += this.#event('response.content_part.added', {
        item_id: item.id,
        output_index: item.outputIndex,
        content_index: item.parts.length - 1,
        part: type === 'refusal' ? { type, refusal: '' } : { type, text: '', annotations: [] },
      });
    }
    part.text += text;
    const at = { item_id: item.id, output_index: item.outputIndex, content_index: item.parts.length - 1 };
    return (
      out +
      (type === 'refusal'
        ? this.#event('response.refusal.delta', { ...at, delta: text })
        : this.#event('response.output_text.delta', { ...at, delta: text, logprobs: [] }))
    );
  }

  #callDelta(call: Json): string {
    const index = typeof call.index === 'number' ? call.index : 0;
    const fn = isRecord(call.function) ? call.function : {};
    let out = '';
    let item = this.#calls.get(index);
    if (!item) {
      out += this.#closeReasoning() + this.#closeMessage();
      item = this.#open('function_call', 'fc');
      item.callId = typeof call.id === 'string' ? call.id : item.id;
      item.name = typeof fn.name === 'string' ? fn.name : '';
      this.#calls.set(index, item);
      out += this.#event('response.output_item.added', {
        output_index: item.outputIndex,
        item: functionCallItem(item.id, item.callId, item.name, '', 'in_progress'),
      });
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      item.text += fn.arguments;
      out += this.#event('response.function_call_arguments.delta', {
        item_id: item.id,
        output_index: item.outputIndex,
        delta: fn.arguments,
      });
    }
    return out;
  }

  #closeReasoning(): string {
    const item = this.#reasoning;
    if (!item || item.done) return '';
    item.done = true;
    this.#reasoning = undefined;
    const at = { item_id: item.id, output_index: item.outputIndex, summary_index: 0 };
    item.final = reasoningItem(item.id, item.text);
    return (
      this.#event('response.reasoning_summary_text.done', { ...at, text: item.text }) +
      this.#event('response.reasoning_summary_part.done', {
        ...at,
        part: { type: 'summary_text', text: item.text },
      }) +
      this.#event('response.output_item.done', { output_index: item.outputIndex, item: item.final })
    );
  }

  #closePart(item: OpenItem): string {
    const part = item.parts.at(-1);
    if (!part) return '';
    const at = { item_id: item.id, output_index: item.outputIndex, content_index: item.parts.length - 1 };
    if (part.type === 'refusal') {
      return (
        this.#event('response.refusal.done', { ...at, refusal: part.text }) +
        this.#event('response.content_part.done', { ...at, part: { type: 'refusal', refusal: part.text } })
      );
    }
    return (
      this.#event('response.output_text.done', { ...at, text: part.text, logprobs: [] }) +
      this.#event('response.content_part.done', { ...at, part: outputTextPart(part.text) })
    );
  }

  #closeMessage(): string {
    const item = this.#message;
    if (!item || item.done) return '';
    item.done = true;
    this.#message = undefined;
    const content = item.parts.map((p) =>
      p.type === 'refusal' ? { type: 'refusal', refusal: p.text } : outputTextPart(p.text),
    );
    item.final = messageItem(item.id, content);
    return (
      this.#closePart(item) +
      this.#event('response.output_item.done', { output_index: item.outputIndex, item: item.final })
    );
  }

  #closeCalls(): string {
    let out = '';
    for (const item of this.#calls.values()) {
      if (item.done) continue;
      item.done = true;
      item.final = functionCallItem(item.id, item.callId, item.name, item.text);
      out +=
        this.#event('response.function_call_arguments.done', {
          item_id: item.id,
          output_index: item.outputIndex,
          name: item.name,
          arguments: item.text,
        }) + this.#event('response.output_item.done', { output_index: item.outputIndex, item: item.final });
    }
    return out;
  }

  #finish(): string {
    this.#finished = true;
    let out = this.#start({});
    if (this.#finishReason === undefined) {
      const error = { code: 'server_error', message: 'the upstream stream ended before its finish reason' };
      return (
        out +
        this.#event('response.failed', {
          response: { ...this.#response('failed', null, null, this.#output()), error },
        })
      );
    }
    out += this.#closeReasoning() + this.#closeMessage() + this.#closeCalls();
    const { status, incomplete_details } = statusOf(this.#finishReason);
    const response = this.#response(status, incomplete_details, responsesUsage(this.#usage), this.#output());
    return (
      out + this.#event(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response })
    );
  }

  #output(): Json[] {
    return this.#items.flatMap((item) => (item.final ? [item.final] : []));
  }

  /** An error event of the chat stream, as the Responses API's `error` event; the stream ends there. */
  #fail(error: Json): string {
    this.#finished = true;
    return this.#event('error', responsesErrorFields(error));
  }
}

/**
 * The fields of a Responses `error` event for an OpenAI error object: `code`, `message`,
 * `param` at the top level (the SDK's ResponseErrorEvent) and the object itself under `error`
 * (as the API has also sent it; clients read either).
 */
export function responsesErrorFields(error: Json): Json {
  const code =
    typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : null;
  return {
    code,
    message: typeof error.message === 'string' ? error.message : 'upstream error',
    param: typeof error.param === 'string' ? error.param : null,
    error,
  };
}
