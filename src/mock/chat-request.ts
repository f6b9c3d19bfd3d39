import { BoundedMap } from './bounded-map.js';
import type { Conversation } from './conversation.js';
import type { StreamBody } from './deliver.js';
import type { ErrorSpec } from './errors.js';
import { promptTokens } from './prompt-tokens.js';
import { type Digest, digest } from './random.js';

export type Json = Record<string, unknown>;

/** A chat request ready to answer: its conversation, the conversation's digest, its prompt size. */
export interface PreparedChat {
  conversation: Conversation;
  digest: Digest;
  promptTokens: number;
}

/** A rendered reply: one JSON body (and its token count, for pacing) or an SSE body. */
export type Rendered =
  | { kind: 'json'; body: string; tokens: number }
  | { kind: 'stream'; stream: StreamBody };

const promptMemo = new BoundedMap<string, number>(4096);

export function prepareChat(conversation: Conversation): PreparedChat {
  const d = digest(conversation.fingerprint);
  let tokens = promptMemo.get(d.key);
  if (tokens === undefined) {
    tokens = promptTokens(conversation);
    promptMemo.set(d.key, tokens);
  }
  return { conversation, digest: d, promptTokens: tokens };
}

export const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A 400 unless `value` is absent or an integer >= `min`. */
export function checkInteger(
  value: unknown,
  param: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): ErrorSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  return {
    status: 400,
    message: `Invalid '${param}': expected an integer between ${min} and ${max}, got ${JSON.stringify(value)}.`,
    param,
    code: 'invalid_value',
  };
}
