import type { Conversation } from './conversation.js';
import { tokensOf } from './tokens.js';

/**
 * Per-message overhead, after OpenAI's cookbook recipe for chat models: 3 tokens of framing
 * plus 1 for the role; 3 more prime the reply. Anthropic's tokenizer is not public, so its
 * routes use the same count: plausible, stable, and countable by tests.
 */
export const PER_MESSAGE = 4;
const REPLY_PRIMING = 3;

/** Prompt tokens of the first `textsEnd` texts and `messages` messages. */
export function prefixTokens(
  c: Conversation,
  textsEnd: number,
  messages: number,
  fixedTokens: number,
): number {
  let n = messages * PER_MESSAGE + fixedTokens;
  for (let i = 0; i < textsEnd; i++) n += tokensOf(c.texts[i]);
  return n;
}

/** Prompt tokens of the whole conversation. */
export function promptTokens(c: Conversation): number {
  return prefixTokens(c, c.texts.length, c.messageCount, c.fixedTokens) + REPLY_PRIMING;
}
