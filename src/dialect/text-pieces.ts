/**
 * Cut replayed text into pieces the size a model streams: a few words each, and long runs
 * without spaces (code, CJK text) into short slices on code-point boundaries. Joining the
 * pieces gives the text back exactly.
 */
const WORDS_PER_PIECE = 3;
const MAX_PIECE_CHARS = 24;

export function textPieces(text: string): string[] {
  if (text === '') return [];
  const words = text.match(/\s*\S+|\s+/g) ?? [text];
  const pieces: string[] = [];
  let current = '';
  let count = 0;
  for (const word of words) {
    if (word.length > MAX_PIECE_CHARS) {
      if (current) pieces.push(current);
      current = '';
      count = 0;
      pieces.push(...slices(word, MAX_PIECE_CHARS));
      continue;
    }
    current += word;
    if (++count === WORDS_PER_PIECE || current.length >= MAX_PIECE_CHARS) {
      pieces.push(current);
      current = '';
      count = 0;
    }
  }
  if (current) pieces.push(current);
  return pieces;
}

/** Fixed-size slices (in code points, so a surrogate pair is never split). */
export function slices(text: string, size: number): string[] {
  if (text === '') return [];
  const points = Array.from(text);
  if (points.length <= size) return [text];
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(''));
  return out;
}
