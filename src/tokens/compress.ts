/**
 * History compression (opt-in). Over a token limit, keep the system prompt and the last N turns
 * verbatim and replace the older turns with a summary written by a cheap model. Cuts fall only
 * on turn starts (a user message that is not carrying tool results), so a tool call is never
 * separated from its result.
 *
 * A summary is stored under the caller and the conversation's anchor (its system prompt and
 * first message) together with the length and hash of the prefix it replaces. The next turn of the same
 * conversation reuses it while summary + newer messages fit under the limit, and otherwise
 * extends it incrementally (old summary + the messages since), so a long conversation is
 * summarised every few turns, not every turn.
 */
import { createHash } from 'node:crypto';
import { scopeOf } from '../cache/key.js';
import { DIALECTS } from '../dialect/index.js';
import type { Caller, Dialect, RequestContext, Usage } from '../pipeline/types.js';
import { compositeKey } from '../store/composite-key.js';
import type { KvStore } from '../store/types.js';
import type { CompressionConfig } from './config.js';
import { type ChatMessage, contentText, isSystemRole, isTurnStart, messagesOf } from '../dialect/messages.js';

export interface SummaryMessage {
  role: 'system' | 'user';
  content: string;
}

/**
 * Writes a summary with `model` on behalf of `caller`. The gateway wires this to a call
 * through its own pipeline, so the summary's cost is budgeted and recorded to the caller.
 */
export type Summariser = (
  messages: SummaryMessage[],
  model: string,
  caller: Caller,
  /** The request being compressed (its key, abort signal and deadline carry over to the summary call). */
  parent?: RequestContext,
) => Promise<{ text: string; usage?: Usage }>;

export interface CompressionResult {
  body: Record<string, unknown>;
  tokensBefore: number;
  tokensAfter: number;
  /** Messages replaced by the summary. */
  replacedMessages: number;
  /** `cache`: a stored summary was reused; `summariser`: written now; `incremental`: a stored one was extended. */
  summary: 'cache' | 'summariser' | 'incremental';
  /** Usage of the summariser call, when one was made. */
  summaryUsage?: Usage;
}

export interface CompressInput {
  dialect: Dialect;
  body: Record<string, unknown>;
  config: CompressionConfig;
  /** Prompt tokens of a body (the caller's model). */
  count: (body: Record<string, unknown>) => number;
  summarise: Summariser;
  caller: Caller;
  parent?: RequestContext;
  /** Where summaries are kept for reuse; without it every compression calls the summariser. */
  store?: KvStore;
}

interface StoredSummary {
  prefixLen: number;
  prefixHash: string;
  summary: string;
}

export const SUMMARY_HEADING = '[Earlier conversation summary]';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const prefixHash = (messages: readonly ChatMessage[], len: number): string =>
  sha(JSON.stringify(messages.slice(0, len)));

/** Where the verbatim part starts: the N-th last turn start, or -1 when there is nothing older to compress. */
export function compressionCut(
  dialect: Dialect,
  messages: readonly ChatMessage[],
  keepTurns: number,
): number {
  const starts: number[] = [];
  for (let i = 0; i < messages.length; i++) if (isTurnStart(messages[i])) starts.push(i);
  if (starts.length <= keepTurns) return -1;
  const cut = starts[starts.length - keepTurns];
  const older = messages.slice(0, cut);
  // With the system prompt in a field of its own, every message is dialogue.
  const hasDialogue =
    DIALECTS[dialect].systemPrompt.in === 'field'
      ? older.length > 0
      : older.some((m) => !isSystemRole(m.role));
  return hasDialogue ? cut : -1;
}

/**
 * The body with messages[0..replaced) (system messages excepted) replaced by `summary`, which
 * joins the system prompt: a text block appended to its field (Anthropic's `system` takes
 * blocks; the one other field, Responses `instructions`, is never compressed: `promptShaping`),
 * or a system message after the kept ones.
 */
export function withSummary(
  dialect: Dialect,
  body: Record<string, unknown>,
  replaced: number,
  summary: string,
): Record<string, unknown> {
  const messages = messagesOf(body);
  const text = `${SUMMARY_HEADING}\n${summary}`;
  const placement = DIALECTS[dialect].systemPrompt;
  if (placement.in === 'field') {
    const system = body[placement.field];
    const blocks: unknown[] =
      typeof system === 'string'
        ? system
          ? [{ type: 'text', text: system }]
          : []
        : Array.isArray(system)
          ? [...system]
          : [];
    blocks.push({ type: 'text', text });
    return { ...body, [placement.field]: blocks, messages: messages.slice(replaced) };
  }
  const keptSystem = messages.slice(0, replaced).filter((m) => isSystemRole(m.role));
  return {
    ...body,
    messages: [...keptSystem, { role: 'system', content: text }, ...messages.slice(replaced)],
  };
}

function transcriptLine(m: ChatMessage, maxChars: number): string {
  const cut = (s: string) => (s.length > maxChars ? `${s.slice(0, maxChars)}…` : s);
  const parts: string[] = [];
  const role = m.role === 'assistant' ? 'Assistant' : m.role === 'tool' ? 'Tool result' : 'User';
  if (Array.isArray(m.content)) {
    for (const b of m.content as Array<Record<string, unknown>>) {
      if (b?.type === 'tool_use')
        parts.push(`Assistant called tool ${String(b.name)}(${cut(JSON.stringify(b.input ?? {}))})`);
      else if (b?.type === 'tool_result') parts.push(`Tool result: ${cut(contentText(b.content))}`);
      else {
        const t = contentText([b]);
        if (t) parts.push(`${role}: ${cut(t)}`);
      }
    }
  } else {
    const t = contentText(m.content);
    if (t) parts.push(`${role}: ${cut(t)}`);
  }
  if (Array.isArray(m.tool_calls)) {
    for (const c of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) {
      parts.push(`Assistant called tool ${c.function?.name ?? '?'}(${cut(c.function?.arguments ?? '')})`);
    }
  }
  return parts.join('\n');
}

/** The summariser's input: the instruction, then the messages (and the earlier summary, when extending one). */
export function summaryRequest(
  messages: readonly ChatMessage[],
  config: CompressionConfig,
  previous?: string,
): SummaryMessage[] {
  const lines = messages
    .filter((m) => !isSystemRole(m.role))
    .map((m) => transcriptLine(m, config.maxCharsPerMessage))
    .filter(Boolean);
  const head = previous ? `Summary of the conversation so far:\n${previous}\n\nMessages since:\n` : '';
  return [
    { role: 'system', content: config.instruction },
    { role: 'user', content: head + lines.join('\n') },
  ];
}

/** Compress `body` if it is over the limit; undefined when it is not or cannot be. */
export async function compressHistory(input: CompressInput): Promise<CompressionResult | undefined> {
  const { dialect, body, config, count } = input;
  const messages = messagesOf(body);
  const tokensBefore = count(body);
  if (tokensBefore <= config.thresholdTokens) return undefined;
  const cut = compressionCut(dialect, messages, config.keepTurns);
  if (cut === -1) return undefined;

  // Per caller: another tenant with the same opening must neither reuse (nor learn of) this summary.
  // The system prompt is part of the opening; in messages it is among them, else it is its own field.
  const placement = DIALECTS[dialect].systemPrompt;
  const systemField = placement.in === 'field' ? body[placement.field] : null;
  const anchor = sha(JSON.stringify([dialect, config.model, systemField, messages[0]]));
  const anchorKey = compositeKey('compress-v2', scopeOf('user', input.caller), anchor);
  const stored = await readStored(input.store, anchorKey);
  let previous: StoredSummary | undefined;
  if (stored && stored.prefixLen <= cut && prefixHash(messages, stored.prefixLen) === stored.prefixHash) {
    previous = stored;
    const reused = withSummary(dialect, body, stored.prefixLen, stored.summary);
    const tokensAfter = count(reused);
    if (tokensAfter <= config.thresholdTokens || stored.prefixLen === cut) {
      return {
        body: reused,
        tokensBefore,
        tokensAfter,
        replacedMessages: dialogueCount(messages, stored.prefixLen),
        summary: 'cache',
      };
    }
  }

  const fresh = previous ? messages.slice(previous.prefixLen, cut) : messages.slice(0, cut);
  const request = summaryRequest(fresh, config, previous?.summary);
  const { text, usage } = await input.summarise(request, config.model, input.caller, input.parent);
  const summary = text.trim();
  if (!summary) return undefined;
  const next: StoredSummary = { prefixLen: cut, prefixHash: prefixHash(messages, cut), summary };
  await input.store?.set(anchorKey, Buffer.from(JSON.stringify(next)), config.summaryTtlSeconds);
  const compressed = withSummary(dialect, body, cut, summary);
  return {
    body: compressed,
    tokensBefore,
    tokensAfter: count(compressed),
    replacedMessages: dialogueCount(messages, cut),
    summary: previous ? 'incremental' : 'summariser',
    ...(usage ? { summaryUsage: usage } : {}),
  };
}

const dialogueCount = (messages: readonly ChatMessage[], len: number): number =>
  messages.slice(0, len).filter((m) => !isSystemRole(m.role)).length;

async function readStored(store: KvStore | undefined, key: string): Promise<StoredSummary | undefined> {
  const bytes = await store?.get(key);
  if (!bytes) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as StoredSummary;
  } catch {
    return undefined;
  }
}
