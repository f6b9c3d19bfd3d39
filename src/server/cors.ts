import type { IncomingMessage, ServerResponse } from 'node:http';

const PREFLIGHT_MAX_AGE_S = 600;
const ALLOWED_METHODS = 'GET, POST, DELETE, OPTIONS';

/**
 * CORS for the origins the operator lists, and nothing for anyone else: without an
 * `Access-Control-Allow-Origin` a browser neither sends a cross-site JSON POST (the preflight
 * fails) nor lets a page read any reply. Returns a handler that decorates the response and
 * answers preflights itself (returning true when it did), or undefined when no origin is listed.
 */
export function corsHandler(
  origins: readonly string[],
): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  if (origins.length === 0) return undefined;
  const allowed = new Set(origins);
  return (req, res) => {
    const origin = req.headers.origin;
    // Caches between browser and gateway must not serve one origin's answer to another.
    res.setHeader('vary', 'Origin');
    if (origin === undefined || !allowed.has(origin)) return false;
    res.setHeader('access-control-allow-origin', origin);
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!preflight) {
      // Without this a page could not read x-request-id, x-sluice-* or the rate-limit headers.
      res.setHeader('access-control-expose-headers', '*');
      return false;
    }
    const headers: Record<string, string> = {
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-max-age': String(PREFLIGHT_MAX_AGE_S),
    };
    const asked = req.headers['access-control-request-headers'];
    // The origin is trusted, so any request header it names (auth, versions, betas) is allowed.
    if (asked) headers['access-control-allow-headers'] = asked;
    res.writeHead(204, headers);
    res.end();
    return true;
  };
}
