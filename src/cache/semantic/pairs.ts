/** Labelled text pairs for evaluation, in the format of the shared data set (JSON lines). */
import { createHash } from 'node:crypto';
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

/**
 * Which pairs belong to the held-out half of a labelled file: pairs that share a question are
 * grouped (union-find over texts) and whole groups are assigned by a hash, so no question is
 * on both sides. The verifier is fitted on the other half (`bench/fit-verifier.ts`).
 */
export function heldOutMask(pairs: TextPair[]): boolean[] {
  const groups = groupsSharingText(pairs);
  return groups.map((group) => createHash('sha256').update(`qqp-split:${group}`).digest()[0] >= 128);
}

/** Group number per pair: pairs connected through a shared text get the same number. */
export function groupsSharingText(pairs: TextPair[]): number[] {
  const parent: number[] = [];
  const id = new Map<string, number>();
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root];
    while (parent[i] !== root) [parent[i], i] = [root, parent[i]];
    return root;
  };
  const node = (text: string) => {
    let n = id.get(text);
    if (n === undefined) {
      n = parent.length;
      parent.push(n);
      id.set(text, n);
    }
    return n;
  };
  for (const p of pairs) parent[find(node(p.a))] = find(node(p.b));
  return pairs.map((p) => find(node(p.a)));
}
