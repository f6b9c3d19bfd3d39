import { randomBytes } from 'node:crypto';

// A random per-process prefix plus a counter: unique ids without a random draw per response.
const PROCESS_PART = randomBytes(6).toString('hex');
let counter = 0;

/** A fresh id such as `chatcmpl-3f9a…0001`; unique within and (practically) across processes. */
export function newId(prefix: string): string {
  counter++;
  return prefix + PROCESS_PART + counter.toString(36).padStart(8, '0');
}
