import type { IncomingHttpHeaders } from 'node:http';
import { SluiceError } from '../errors.js';

/**
 * Bodies must be declared JSON. A web page can POST `text/plain` or a form to any site
 * without a CORS preflight; requiring `application/json` forces the preflight, which the
 * gateway only answers for configured origins, so a page cannot spend the operator's key.
 */
export function requireJsonContentType(headers: IncomingHttpHeaders): void {
  const declared = headers['content-type'];
  if (declared !== undefined && isJson(declared)) return;
  throw new SluiceError(
    'unsupported_media_type',
    declared === undefined
      ? 'missing content-type: send the body as application/json'
      : `unsupported content-type '${declared.slice(0, 100)}': send the body as application/json`,
  );
}

/** `application/json`, any case, optionally followed by parameters such as `; charset=utf-8`. */
function isJson(value: string): boolean {
  const semi = value.indexOf(';');
  const mediaType = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return mediaType === 'application/json';
}
