import { SluiceError } from '../../errors.js';

/** Plain JSON, read defensively: translation runs on bodies only the edge's schema has seen. */
export type Json = Record<string, unknown>;

export const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** The two wire dialects translation moves between. */
export type WireDialect = 'openai' | 'anthropic';

const PROVIDER_NAME: Record<WireDialect, string> = { openai: 'OpenAI', anthropic: 'Anthropic' };

/**
 * A request part the target dialect cannot honour: a 400 naming it, never a silent drop.
 * `target` is the dialect of the upstream that would answer.
 */
export function untranslatable(target: WireDialect, param: string, why: string): SluiceError {
  return new SluiceError(
    'invalid_request',
    `${param}: cannot be sent to an ${PROVIDER_NAME[target]} model through translation (${why})`,
    { param },
  );
}

/** A reply part the client's dialect cannot represent (the upstream answered something odd). */
export function unrepresentable(client: WireDialect, what: string): SluiceError {
  return new SluiceError(
    'upstream_error',
    `the upstream's reply cannot be expressed as an ${PROVIDER_NAME[client]} reply: ${what}`,
  );
}
