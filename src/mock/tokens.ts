import { countTokens, decodeGenerator, encode } from 'gpt-tokenizer';
import { countBounded, segmentsOf } from '../tokens/bounded-count.js';
import { BoundedMap } from './bounded-map.js';
import { digest } from './random.js';

// Treat special-token text such as `<|endoftext|>` in a prompt as plain text instead of
// throwing, which is what a provider does with user content.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// Prompts repeat (system prompts, growing chat histories); BPE is the costly part, a Map
// lookup is not. Long texts are keyed by their digest so the memo never pins megabytes of
// prompts in memory.
const memo = new BoundedMap<string, number>(8192);
const LONG_TEXT = 1024;
const countPlain = (text: string): number => countTokens(text, PLAIN_TEXT);

/**
 * Token count of `text` with o200k_base (gpt-tokenizer's default encoding), in linear time:
 * long unbroken runs are cut and very long texts sampled, like the gateway's own counter
 * (the mock runs in-process in tests, so its loop is the gateway's).
 */
export function tokensOf(text: string): number {
  if (text.length === 0) return 0;
  const key = text.length > LONG_TEXT ? digest(text).key : text;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const n = countBounded(text, countPlain).tokens;
  memo.set(key, n);
  return n;
}

/** A text cut into token pieces: the pieces, and how many tokens the uncut text has. */
export interface TokenPieces {
  pieces: string[];
  total: number;
}

/**
 * Split `text` into its tokens' strings, at most `limit` tokens. A character spread over
 * two tokens decodes as one piece, so every piece is valid text; the pieces join back to
 * the (possibly cut) text.
 */
export function tokenPieces(text: string, limit = Number.POSITIVE_INFINITY): TokenPieces {
  // Encoded segment by segment: one unbroken run would make a single encode quadratic.
  const ids: number[] = [];
  for (const segment of segmentsOf(text)) for (const id of encode(segment, PLAIN_TEXT)) ids.push(id);
  const kept = ids.length > limit ? ids.slice(0, limit) : ids;
  const pieces: string[] = [];
  let carry = '';
  for (const piece of decodeGenerator(kept)) {
    carry += piece;
    if (carry !== '') {
      pieces.push(carry);
      carry = '';
    }
  }
  return { pieces, total: ids.length };
}
