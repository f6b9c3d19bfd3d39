import type { IncomingMessage } from 'node:http';
import { SluiceError } from '../errors.js';

/** One model as OpenAI's `GET /v1/models` lists it. */
export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** One model as Anthropic's `GET /v1/models` lists it. */
interface AnthropicModel {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

export const MODEL_PATH_PREFIX = '/v1/models/';

/** The Anthropic SDKs send `anthropic-version` on every call; OpenAI's never do. */
export const wantsAnthropicShape = (req: IncomingMessage): boolean =>
  req.headers['anthropic-version'] !== undefined;

function toAnthropic(m: ModelEntry): AnthropicModel {
  return {
    type: 'model',
    id: m.id,
    display_name: m.id,
    created_at: new Date(m.created * 1000).toISOString(),
  };
}

/** `GET /v1/models` in the caller's dialect (Anthropic's list is one page holding every model). */
export function modelListBody(models: readonly ModelEntry[], anthropic: boolean): unknown {
  if (!anthropic) return { object: 'list', data: models };
  return {
    data: models.map(toAnthropic),
    has_more: false,
    first_id: models[0]?.id ?? null,
    last_id: models.at(-1)?.id ?? null,
  };
}

/** `GET /v1/models/{id}` in the caller's dialect; 404 `model_not_found` for an id not listed. */
export function modelBody(models: readonly ModelEntry[], req: IncomingMessage): unknown {
  const id = modelIdOf(req);
  const found = models.find((m) => m.id === id);
  if (!found)
    throw new SluiceError('model_not_found', `The model '${id}' does not exist or no upstream serves it`, {
      param: 'model',
    });
  return wantsAnthropicShape(req) ? toAnthropic(found) : found;
}

/**
 * The model id in `/v1/models/{id}`: the rest of the raw path, percent-decoded, so ids holding
 * `/` or `:` (`ft:gpt-4o:org:x:y`, `openai/gpt-4o`) work whether the client encoded them or not.
 * Malformed percent-encoding, encoded lone surrogates included (not valid UTF-8), is a 400.
 */
export function modelIdOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  const query = url.indexOf('?');
  const encoded = (query === -1 ? url : url.slice(0, query)).slice(MODEL_PATH_PREFIX.length);
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new SluiceError(
      'invalid_request',
      `the model id in the path is not valid percent-encoded UTF-8: '${encoded.slice(0, 100)}'`,
      { param: 'model' },
    );
  }
}
