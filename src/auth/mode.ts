/**
 * Whether a request must present a virtual key (`auth.required`), and how that reads in the
 * start-up banner and in a 401, so nobody meets a sudden 401 without a reason.
 */
import type { AuthRequired } from './config.js';
import type { KeyStore } from './keys.js';

export async function keyRequired(mode: AuthRequired, keys: Pick<KeyStore, 'hasKeys'>): Promise<boolean> {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  return keys.hasKeys();
}

/** One line for the start-up banner. */
export function describeAuthMode(mode: AuthRequired, hasKeys: boolean): string {
  if (mode === 'always') return 'auth.required=always: every request must present a virtual key';
  if (mode === 'never')
    return 'auth.required=never: anonymous requests are accepted; a valid virtual key still identifies its caller';
  return hasKeys
    ? 'auth.required=auto: virtual keys exist, so every request must present one (revoked keys count too; ' +
        'set auth.required: never to accept anonymous callers)'
    : 'auth.required=auto: no virtual key exists yet, so anonymous requests are accepted; ' +
        'creating the first key makes a key required for every request';
}

/** Why a request without a usable key was refused: the mode that requires one, and what to send. */
export function keyRefusalMessage(mode: AuthRequired, presented: 'none' | 'unknown'): string {
  const why =
    mode === 'always'
      ? 'this gateway requires a Sluice virtual key on every request (auth.required: always)'
      : 'this gateway requires a Sluice virtual key because virtual keys exist (auth.required: auto)';
  const what = presented === 'none' ? 'Missing API key' : 'Invalid API key';
  return `${what}: ${why}. Send Authorization: Bearer <your Sluice key> (or x-api-key).`;
}
