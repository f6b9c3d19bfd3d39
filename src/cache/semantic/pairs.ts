/** Labelled text pairs for evaluation, in the format of the shared data set (JSON lines). */
import { readFile } from 'node:fs/promises';

export interface TextPair {
  a: string;
  b: string;
  /** Absent in a paraphrase file: every pair there counts as a duplicate. */
  duplicate: boolean;
}

export async function readPairs(file: string): Promise<TextPair[]> {
  const text = await readFile(file, 'utf8');
  const pairs: TextPair[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: { a?: unknown; b?: unknown; duplicate?: unknown };
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new Error(`${file}:${i + 1}: not JSON`, { cause: error });
    }
    if (typeof row.a !== 'string' || typeof row.b !== 'string') {
      throw new Error(`${file}:${i + 1}: a pair needs string fields "a" and "b"`);
    }
    const duplicate = row.duplicate === undefined ? true : row.duplicate === 1 || row.duplicate === true;
    pairs.push({ a: row.a, b: row.b, duplicate });
  });
  return pairs;
}
