import { LazyEvent, type SseEvent } from './sse.js';
import type { Aggregate, ParsedEvent, StreamAggregator } from './types.js';
import { slices, textPieces } from './text-pieces.js';

/**
 * OpenAI chat-completion streams, both ways: rebuild the `chat.completion` a stream amounts
 * to (so a streamed miss can answer a JSON request), and replay a stored completion as a
 * valid `chat.completion.chunk` stream (so a JSON miss can answer a streaming request).
 */

type Json = Record<string, unknown>;

interface ToolCallAcc {
  id?: string;
  type?: string;
  name: string;
  arguments: string;
}

interface ChoiceAcc {
  index: number;
  role?: string;
  content: string | null;
  refusal: string | null;
  /** Reasoning text by field name (`reasoning_content` on DeepSeek/vLLM, `reasoning` on others). */
  reasoning: Map<string, string>;
  toolCalls: ToolCallAcc[];
  functionCall?: { name: string; arguments: string };
  annotations?: unknown[];
  logprobs?: { content: unknown[] | null; refusal: unknown[] | null };
  finishReason: string | null;
}

const REASONING_FIELDS = new Set(['reasoning_content', 'reasoning']);
/** Top-level chunk fields copied onto the completion (first value seen wins). */
const META_FIELDS = ['id', 'created', 'model', 'system_fingerprint', 'service_tier'] as const;

/**
 * Feed it the SSE events of one OpenAI stream. It refuses (reason given) a stream that
 * errored, never finished every choice, never said `[DONE]`, or carried a delta it cannot
 * represent (e.g. audio): caching a lossy rebuild would replay a different answer.
 */
export class OpenAIStreamAggregator implements StreamAggregator {
  readonly #meta: Json = {};
  readonly #choices = new Map<number, ChoiceAcc>();
  #usage: unknown;
  #done = false;
  #failure: string | undefined;

  push(event: ParsedEvent): void {
    if (this.#failure) return;
    if (event.data === '[DONE]') {
      this.#done = true;
      return;
    }
    const chunk = event.json() as Json | undefined;
    if (!chunk || typeof chunk !== 'object') {
      this.#failure = 'a chunk is not JSON';
      return;
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      this.#failure = 'the stream carried an error';
      return;
    }
    for (const field of META_FIELDS) {
      if (this.#meta[field] === undefined && chunk[field] !== undefined && chunk[field] !== null) {
        this.#meta[field] = chunk[field];
      }
    }
    if (chunk.usage) this.#usage = chunk.usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const choice of chunk.choices as Json[]) this.#choice(choice);
  }

  finish(): Aggregate<Json> {
    if (this.#failure) return { ok: false, reason: this.#failure };
    if (!this.#done) return { ok: false, reason: 'no [DONE]' };
    if (this.#choices.size === 0) return { ok: false, reason: 'no choices' };
    const choices = [...this.#choices.values()].sort((a, b) => a.index - b.index);
    if (choices.some((c) => c.finishReason === null)) return { ok: false, reason: 'a choice never finished' };
    const response: Json = {
      id: this.#meta.id ?? 'chatcmpl-sluice',
      object: 'chat.completion',
      created: this.#meta.created ?? Math.floor(Date.now() / 1000),
      model: this.#meta.model ?? '',
      choices: choices.map(completedChoice),
    };
    if (this.#usage) response.usage = this.#usage;
    if (this.#meta.service_tier !== undefined) response.service_tier = this.#meta.service_tier;
    if (this.#meta.system_fingerprint !== undefined)
      response.system_fingerprint = this.#meta.system_fingerprint;
    return { ok: true, response };
  }

  #choice(choice: Json): void {
    const index = typeof choice.index === 'number' ? choice.index : 0;
    let acc = this.#choices.get(index);
    if (!acc) {
      acc = { index, content: null, refusal: null, reasoning: new Map(), toolCalls: [], finishReason: null };
      this.#choices.set(index, acc);
    }
    const delta = (choice.delta ?? {}) as Json;
    for (const [field, value] of Object.entries(delta)) {
      if (value === null || value === undefined) continue;
      if (!applyDelta(acc, field, value)) {
        this.#failure = `unsupported delta field '${field}'`;
        return;
      }
    }
    const logprobs = choice.logprobs as
      | { content?: unknown[] | null; refusal?: unknown[] | null }
      | null
      | undefined;
    if (logprobs) {
      const kept = acc.logprobs ?? { content: null, refusal: null };
      acc.logprobs = kept;
      if (Array.isArray(logprobs.content)) {
        if (!kept.content) kept.content = [];
        kept.content.push(...logprobs.content);
      }
      if (Array.isArray(logprobs.refusal)) {
        if (!kept.refusal) kept.refusal = [];
        kept.refusal.push(...logprobs.refusal);
      }
    }
    if (typeof choice.finish_reason === 'string') acc.finishReason = choice.finish_reason;
  }
}

/** Fold one delta field into a choice; false for a field the rebuild cannot represent. */
function applyDelta(acc: ChoiceAcc, field: string, value: unknown): boolean {
  if (field === 'role') acc.role = String(value);
  else if (field === 'content') acc.content = (acc.content ?? '') + String(value);
  else if (field === 'refusal') acc.refusal = (acc.refusal ?? '') + String(value);
  else if (REASONING_FIELDS.has(field))
    acc.reasoning.set(field, (acc.reasoning.get(field) ?? '') + String(value));
  else if (field === 'tool_calls' && Array.isArray(value))
    for (const call of value) addToolCall(acc, call as Json);
  else if (field === 'function_call') addFunctionCall(acc, value as Json);
  else if (field === 'annotations' && Array.isArray(value))
    acc.annotations = [...(acc.annotations ?? []), ...value];
  else return false;
  return true;
}

function addToolCall(acc: ChoiceAcc, call: Json): void {
  const index = typeof call.index === 'number' ? call.index : acc.toolCalls.length;
  let tool = acc.toolCalls[index];
  if (!tool) {
    tool = { name: '', arguments: '' };
    acc.toolCalls[index] = tool;
  }
  if (typeof call.id === 'string') tool.id = call.id;
  if (typeof call.type === 'string') tool.type = call.type;
  const fn = call.function as { name?: unknown; arguments?: unknown } | undefined;
  if (typeof fn?.name === 'string') tool.name += fn.name;
  if (typeof fn?.arguments === 'string') tool.arguments += fn.arguments;
}

function addFunctionCall(acc: ChoiceAcc, call: Json): void {
  const fn = acc.functionCall ?? { name: '', arguments: '' };
  acc.functionCall = fn;
  if (typeof call.name === 'string') fn.name += call.name;
  if (typeof call.arguments === 'string') fn.arguments += call.arguments;
}

function completedChoice(acc: ChoiceAcc): Json {
  const message: Json = { role: acc.role ?? 'assistant', content: acc.content, refusal: acc.refusal };
  for (const [field, text] of acc.reasoning) message[field] = text;
  const calls = acc.toolCalls.filter(Boolean);
  if (calls.length > 0) {
    message.tool_calls = calls.map((call) => ({
      id: call.id ?? '',
      type: call.type ?? 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  if (acc.functionCall) message.function_call = acc.functionCall;
  if (acc.annotations) message.annotations = acc.annotations;
  return { index: acc.index, message, logprobs: acc.logprobs ?? null, finish_reason: acc.finishReason };
}

/** Rebuild a completion from a whole stream's events (tests, library use). */
export function aggregateOpenAIStream(events: Iterable<SseEvent>): Aggregate<Json> {
  const aggregator = new OpenAIStreamAggregator();
  for (const event of events) aggregator.push(LazyEvent.from(event));
  return aggregator.finish();
}

export interface OpenAIReplayOptions {
  /** The client asked `stream_options.include_usage`: every chunk carries `usage: null`, then a usage chunk. */
  includeUsage: boolean;
}

/**
 * A stored `chat.completion` as the SSE event payloads OpenAI would have sent: per choice a
 * role chunk, reasoning, content (or per-token chunks when logprobs were stored), refusal,
 * tool-call deltas (id and name first, then the arguments in slices), a finish chunk; then the
 * usage chunk if asked for, and `[DONE]`. Returns the `data:` payloads in order.
 */
export function replayOpenAI(completion: Json, options: OpenAIReplayOptions): string[] {
  const base: Json = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  if (completion.service_tier !== undefined) base.service_tier = completion.service_tier;
  if (completion.system_fingerprint !== undefined) base.system_fingerprint = completion.system_fingerprint;
  const out: string[] = [];
  const emit = (choice: Json) => {
    const chunk: Json = { ...base, choices: [choice] };
    if (options.includeUsage) chunk.usage = null;
    out.push(JSON.stringify(chunk));
  };
  const choices = Array.isArray(completion.choices) ? (completion.choices as Json[]) : [];
  for (const choice of choices) replayChoice(choice, emit);
  if (options.includeUsage && completion.usage)
    out.push(JSON.stringify({ ...base, choices: [], usage: completion.usage }));
  out.push('[DONE]');
  return out;
}

function replayChoice(choice: Json, emit: (choice: Json) => void): void {
  const index = choice.index ?? 0;
  const message = (choice.message ?? {}) as Json;
  const delta = (d: Json, logprobs: unknown = null) =>
    emit({ index, delta: d, logprobs, finish_reason: null });

  // As OpenAI does: an empty string opens a text answer, null a tool-call-only one.
  delta({ role: message.role ?? 'assistant', content: message.content === null ? null : '', refusal: null });
  for (const field of REASONING_FIELDS) {
    if (typeof message[field] === 'string')
      for (const piece of textPieces(message[field])) delta({ [field]: piece });
  }
  if (typeof message.content === 'string')
    replayContent(message.content, choice.logprobs as Json | null, delta);
  if (typeof message.refusal === 'string')
    for (const piece of textPieces(message.refusal)) delta({ refusal: piece });
  if (Array.isArray(message.annotations) && message.annotations.length > 0)
    delta({ annotations: message.annotations });
  if (Array.isArray(message.tool_calls)) {
    (message.tool_calls as Json[]).forEach((call, i) => {
      const fn = (call.function ?? {}) as { name?: string; arguments?: string };
      delta({
        tool_calls: [
          {
            index: i,
            id: call.id,
            type: call.type ?? 'function',
            function: { name: fn.name, arguments: '' },
          },
        ],
      });
      for (const part of slices(fn.arguments ?? '', 16))
        delta({ tool_calls: [{ index: i, function: { arguments: part } }] });
    });
  }
  const legacy = message.function_call as { name?: string; arguments?: string } | undefined;
  if (legacy) {
    delta({ function_call: { name: legacy.name, arguments: '' } });
    for (const part of slices(legacy.arguments ?? '', 16)) delta({ function_call: { arguments: part } });
  }
  emit({ index, delta: {}, logprobs: null, finish_reason: choice.finish_reason ?? 'stop' });
}

/**
 * Content with per-token logprobs goes out one token per chunk (as OpenAI streams it) when
 * the tokens spell the content; otherwise in natural pieces, the logprobs on the first one.
 */
function replayContent(
  content: string,
  logprobs: Json | null,
  delta: (d: Json, logprobs?: unknown) => void,
): void {
  const tokens = Array.isArray(logprobs?.content) ? (logprobs.content as { token?: unknown }[]) : undefined;
  if (tokens && tokens.map((t) => String(t.token ?? '')).join('') === content) {
    for (const token of tokens) delta({ content: token.token }, { content: [token], refusal: null });
    return;
  }
  const pieces = textPieces(content);
  for (let i = 0; i < pieces.length; i++) delta({ content: pieces[i] }, i === 0 ? (logprobs ?? null) : null);
}
