/**
 * Token counting in linear, bounded time.
 *
 * gpt-tokenizer's byte-pair merge costs the square of a pre-token's length, and the
 * pre-tokenizer keeps an unbroken run (100,000 × "a", CJK without punctuation, an emoji
 * run) as one pre-token: one request could hold the event loop for minutes. So:
 *
 * 1. A text is counted in segments of at most SEGMENT_CHARS characters. A segment ends,
 *    where one exists, just before a space or tab that follows a non-space: both o200k and
 *    cl100k pre-tokenizers always split there and neither looks across that point, so these
 *    cuts change nothing (ordinary text counts exactly as before). A run with no such point
 *    is cut after SEGMENT_CHARS characters (never inside a surrogate pair); a token spanning
 *    that cut is counted as two, about one token more per cut (measured in `npm run
 *    bench:tokens`: under 0.5 % on runs, 0 on prose).
 * 2. A text longer than EXACT_CHARS is estimated instead: up to SAMPLE_WINDOWS windows
 *    spread evenly over it are counted as above and scaled by length. Cost is bounded by the
 *    sample, not the text; the error is that of the sample (under
 *    1 % on uniform text, more on text whose density varies; see BENCHMARKS.md).
 *
 * `TokenTally` adds a per-call time budget on top: a body with thousands of mid-sized texts
 * is linear in size but could still add up, so once a tally has spent `budgetMs`, later
 * texts are estimated from the tokens-per-character ratio it has seen so far.
 */

/** Longest piece handed to the tokenizer; its merge cost is bounded by this squared. */
export const SEGMENT_CHARS = 128;
/** Texts up to this length are counted (near-)exactly; longer ones are sampled. */
export const EXACT_CHARS = 32_768;
/** A power of two (see WINDOW_ORDER). */
const SAMPLE_WINDOWS = 64;
const SAMPLE_WINDOW_CHARS = 128;
const SAMPLE_WINDOW_BYTES = 192;
const MIN_SAMPLE_WINDOWS = 4;
/** Tokens per character assumed before a tally has counted anything (o200k on English is ≈ 0.25). */
const FALLBACK_TOKENS_PER_CHAR = 0.25;
const MEMO_MAX_TEXT = 1_000_000;
/** Default time a tally may spend counting before it estimates the rest. */
export const TALLY_BUDGET_MS = 20;

export type Tokenize = (text: string) => number;

export interface BoundedCount {
  tokens: number;
  /** True when the count was estimated (sampled, or past the time budget). */
  estimated: boolean;
}

/** JavaScript's `\s` (what the pre-tokenizers mean by whitespace). */
function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * A space or tab after a non-space character starts a new pre-token, and no pre-token
 * pattern looks back across it or forward past it from the left side (`[\r\n]` would, so
 * newlines are not cut points).
 */
function isExactCut(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return (c === 0x20 || c === 0x09) && i > 0 && !isSpace(text.charCodeAt(i - 1));
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** A position near `i` that does not split a surrogate pair. */
function charBoundary(text: string, i: number): number {
  return i > 0 && i < text.length && isLowSurrogate(text.charCodeAt(i)) ? i - 1 : i;
}

/** The last exact cut point in (from, i], or -1. */
function lastCutAtOrBefore(text: string, from: number, i: number): number {
  for (let j = i; j > from; j--) if (isExactCut(text, j)) return j;
  return -1;
}

/** The end of the segment starting at `start` (see the module comment). */
function segmentEnd(text: string, start: number, to: number): number {
  if (to - start <= SEGMENT_CHARS) return to;
  const limit = start + SEGMENT_CHARS;
  const cut = lastCutAtOrBefore(text, start, limit);
  if (cut !== -1) return cut;
  const boundary = charBoundary(text, limit);
  return boundary > start ? boundary : limit;
}

/**
 * Tokens of text[from, to) counted segment by segment. Linear: each backward search for a
 * cut point covers at most SEGMENT_CHARS, and a short segment is always followed by a
 * search that finds no closer cut, i.e. by a full-length segment. Stops early (returning
 * where it stopped) once `deadline` (a performance.now() time) has passed.
 */
export function countSegmented(
  text: string,
  tokenize: Tokenize,
  from = 0,
  to = text.length,
  deadline = Number.POSITIVE_INFINITY,
): { tokens: number; end: number } {
  let tokens = 0;
  let start = from;
  while (start < to) {
    const end = segmentEnd(text, start, to);
    tokens += tokenize(start === 0 && end === text.length ? text : text.slice(start, end));
    start = end;
    if (start < to && performance.now() > deadline) break;
  }
  return { tokens, end: start };
}

/** The segments of `text` countSegmented hands to the tokenizer, in order; they join back to `text`. */
export function* segmentsOf(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    const end = segmentEnd(text, start, text.length);
    yield start === 0 && end === text.length ? text : text.slice(start, end);
    start = end;
  }
}

/**
 * Windows visited in bit-reversed order (0, 16, 8, 24, 4 …): every prefix of the order is
 * spread evenly over the text, so a sample stopped early still covers all of it.
 */
const WINDOW_ORDER = Array.from({ length: SAMPLE_WINDOWS }, (_, k) => {
  let reversed = 0;
  for (let bit = 1, rest = k; bit < SAMPLE_WINDOWS; bit <<= 1, rest >>= 1)
    reversed = (reversed << 1) | (rest & 1);
  return reversed;
});

/**
 * Estimate for text[from, to): up to SAMPLE_WINDOWS windows spread evenly over it, each
 * starting and ending at an exact cut point where one is near (so a window does not count a
 * cut word twice), counted segmented and scaled by the characters they cover. The cost is
 * bounded by the sample (SAMPLE_WINDOWS × SAMPLE_WINDOW_CHARS characters), not by the text,
 * and the estimate does not depend on the machine's load: the same text always gets the same count.
 */
export function estimateBySample(text: string, tokenize: Tokenize, from = 0, to = text.length): number {
  const n = to - from;
  // Short remainders are counted outright (bounded by this size); windows of a text shorter
  // than the whole sample overlap, which costs accuracy nothing.
  if (n <= MIN_SAMPLE_WINDOWS * SAMPLE_WINDOW_CHARS) return countSegmented(text, tokenize, from, to).tokens;
  const step = (n - SAMPLE_WINDOW_CHARS) / (SAMPLE_WINDOWS - 1);
  let tokens = 0;
  let chars = 0;
  for (const k of WINDOW_ORDER) {
    const nominal = from + Math.floor(k * step);
    const start = k === 0 ? from : alignStart(text, nominal, nominal + SAMPLE_WINDOW_CHARS);
    const limit = windowLimit(text, start, to);
    const cut = limit >= to ? to : lastCutAtOrBefore(text, start, limit);
    const end = cut > start ? cut : charBoundary(text, limit);
    if (end <= start) continue;
    tokens += countSegmented(text, tokenize, start, end).tokens;
    chars += end - start;
  }
  return chars === 0 ? 0 : Math.round((tokens * n) / chars);
}

/**
 * Where a sample window starting at `start` ends: SAMPLE_WINDOW_CHARS characters, or fewer
 * when they take more than SAMPLE_WINDOW_BYTES in UTF-8. Byte-pair merging costs the square
 * of a piece's bytes, so a window of CJK (3 bytes a character) would cost 9× one of ASCII.
 */
function windowLimit(text: string, start: number, to: number): number {
  const end = Math.min(to, start + SAMPLE_WINDOW_CHARS);
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : isLowSurrogate(code) ? 1 : 3;
    if (bytes > SAMPLE_WINDOW_BYTES) return i;
  }
  return end;
}

/** Moves `i` forward to the next exact cut point before `end`, else to a character boundary. */
function alignStart(text: string, i: number, end: number): number {
  for (let j = i; j < end; j++) if (isExactCut(text, j)) return j;
  return charBoundary(text, i);
}

/**
 * Tokens of `text`: segmented up to EXACT_CHARS, sampled beyond. A text whose segmented
 * count passes `deadline` has its remainder sampled instead.
 */
export function countBounded(
  text: string,
  tokenize: Tokenize,
  deadline = Number.POSITIVE_INFINITY,
): BoundedCount {
  if (text.length > EXACT_CHARS) return { tokens: estimateBySample(text, tokenize), estimated: true };
  const counted = countSegmented(text, tokenize, 0, text.length, deadline);
  if (counted.end === text.length) return { tokens: counted.tokens, estimated: false };
  return { tokens: counted.tokens + estimateBySample(text, tokenize, counted.end), estimated: true };
}

/**
 * Remembers counts of long texts: a conversation resends its whole history every turn.
 * Texts past MEMO_MAX_TEXT are not kept: hashing a 20 MB key costs more than sampling it.
 */
export class CountMemo {
  readonly #map = new Map<string, BoundedCount>();
  #chars = 0;
  constructor(readonly maxChars: number) {}

  get(text: string): BoundedCount | undefined {
    return text.length < 256 || text.length > MEMO_MAX_TEXT ? undefined : this.#map.get(text);
  }

  set(text: string, count: BoundedCount): void {
    if (text.length < 256 || text.length > MEMO_MAX_TEXT || text.length > this.maxChars) return;
    this.#map.set(text, count);
    this.#chars += text.length;
    while (this.#chars > this.maxChars) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
      this.#chars -= oldest.length;
    }
  }
}

/**
 * Counts the texts of one request within a time budget. Each text costs at most
 * countBounded's bound; once the tally has spent `budgetMs`, the remaining texts are
 * estimated from the tokens per character seen so far (a linear scan of nothing but lengths).
 */
export class TokenTally {
  estimated = false;
  #tokens = 0;
  #chars = 0;
  readonly #deadline: number;

  constructor(
    private readonly tokenize: Tokenize,
    private readonly memo?: CountMemo,
    budgetMs = TALLY_BUDGET_MS,
  ) {
    this.#deadline = performance.now() + budgetMs;
  }

  count(text: string): number {
    if (!text) return 0;
    let result = this.memo?.get(text);
    if (!result) {
      if (performance.now() > this.#deadline) {
        this.estimated = true;
        const ratio = this.#chars > 0 ? this.#tokens / this.#chars : FALLBACK_TOKENS_PER_CHAR;
        return Math.ceil(text.length * ratio);
      }
      result = countBounded(text, this.tokenize, this.#deadline);
      this.memo?.set(text, result);
    }
    this.estimated ||= result.estimated;
    this.#tokens += result.tokens;
    this.#chars += text.length;
    return result.tokens;
  }
}
