/**
 * What of a request is compared by meaning and what must match exactly. Only the text of the
 * last user turn is semantic; everything else (scope, model, system prompt, tools, response
 * format, decoding parameters, the earlier conversation, non-text parts of the last turn) goes
 * into the partition key, so an entry can only ever answer a request that differs from it in
 * the wording of its last question.
 */
import { createHash } from 'node:crypto';
import { DIALECTS } from '../../dialect/index.js';
import type { Dialect } from '../../pipeline/types.js';
import { canonicalJson } from '../canonical-json.js';

export interface SemanticRequestOptions {
  /** Cache requests that carry tool results (they are still matched exactly). Default false. */
  allowToolResults?: boolean;
  /** Cache requests that carry images, audio or files (matched exactly). Default false. */
  allowImages?: boolean;
}

export interface SemanticRequest {
  /** The last user turn's text: the part compared by meaning. */
  text: string;
  /** The rest of the body (minus fields that never change an answer): hash it into the partition. */
  context: Record<string, unknown>;
}

/** Body fields that never change the answer's content. */
const IGNORED_FIELDS = new Set(['messages', 'stream', 'stream_options', 'user', 'metadata']);

const TOOL_RESULT_PARTS = new Set(['tool_result']);
const MEDIA_PARTS = new Set(['image', 'image_url', 'input_image', 'input_audio', 'document', 'file']);

/**
 * Splits a chat (OpenAI) or messages (Anthropic) body into the semantic text and the exact
 * context; undefined when the request is not eligible (the last turn is not a user turn with
 * text, or tool results / media are present and not allowed).
 */
export function semanticRequest(
  dialect: Dialect,
  body: Record<string, unknown>,
  options: SemanticRequestOptions = {},
): SemanticRequest | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const toolResultRoles: readonly unknown[] = DIALECTS[dialect].toolResultRoles;
  let toolResults = false;
  let media = false;
  for (const message of messages) {
    if (!isRecord(message)) return undefined;
    if (toolResultRoles.includes(message.role)) toolResults = true;
    if (Array.isArray(message.content)) {
      for (const part of message.content) {
        const type = isRecord(part) ? part.type : undefined;
        if (typeof type !== 'string') continue;
        if (TOOL_RESULT_PARTS.has(type)) toolResults = true;
        if (MEDIA_PARTS.has(type)) media = true;
      }
    }
  }
  if (toolResults && !options.allowToolResults) return undefined;
  if (media && !options.allowImages) return undefined;

  const last = messages[messages.length - 1] as Record<string, unknown>;
  if (last.role !== 'user') return undefined;
  const { text, extras } = splitContent(last.content);
  if (text === undefined || text.trim() === '') return undefined;

  const context: Record<string, unknown> = { dialect };
  for (const [key, value] of Object.entries(body)) if (!IGNORED_FIELDS.has(key)) context[key] = value;
  // The earlier conversation and the last turn's non-text parts (with their order) match exactly.
  const { content: _content, ...lastWithoutContent } = last;
  context.messages = [...messages.slice(0, -1), { ...lastWithoutContent, extras }];
  return { text, context };
}

/** The last user turn's text, or undefined when the request is not eligible (see `semanticRequest`). */
export function lastUserText(
  dialect: Dialect,
  body: Record<string, unknown>,
  options: SemanticRequestOptions = {},
): string | undefined {
  return semanticRequest(dialect, body, options)?.text;
}

/**
 * The partition key: a hash over everything that must match exactly. The caller passes, in a
 * fixed order, the scope (tenant / key / user as configured), the model and the request's
 * `context` from `semanticRequest`. Objects are hashed with sorted keys, so field order in the
 * JSON body does not split partitions.
 */
export function semanticPartition(parts: unknown[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(canonicalJson(part) ?? 'undefined');
    // A separator that JSON never produces keeps ["ab","c"] apart from ["a","bc"].
    hash.update('\u0000');
  }
  return hash.digest('hex');
}

function splitContent(content: unknown): { text: string | undefined; extras: unknown[] } {
  if (typeof content === 'string') return { text: content, extras: [] };
  if (!Array.isArray(content)) return { text: undefined, extras: [] };
  const texts: string[] = [];
  const extras: unknown[] = [];
  for (const part of content) {
    if (isRecord(part) && part.type === 'text' && typeof part.text === 'string') {
      texts.push(part.text);
      // Anthropic cache_control and similar markers on a text block still count exactly.
      const { text: _text, ...rest } = part;
      if (Object.keys(rest).length > 1) extras.push(rest);
    } else {
      extras.push(part);
    }
  }
  return { text: texts.length > 0 ? texts.join('\n') : undefined, extras };
}

export { canonicalJson };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
