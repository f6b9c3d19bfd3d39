/**
 * One change to the semantic cache's entries, as instances sharing a Redis stream tell each
 * other: a new entry (with its vector when the instance that stored it had embedded it), a
 * vector for an entry stored without one, a deleted entry, a purged partition. Expiry and
 * size eviction are not changes: every instance applies them to its own copy.
 */
export type SemanticChange =
  | {
      op: 'add';
      partition: string;
      text: string;
      entryKey: string;
      /** Epoch ms; Infinity = no expiry. */
      expiresAt: number;
      vector?: Float32Array;
    }
  | { op: 'vector'; partition: string; entryKey: string; vector: Float32Array }
  | { op: 'delete'; entryKey: string }
  | { op: 'purge'; partition: string };
