/** Which candidate upstreams can answer a request, given the APIs each serves (`upstreams[].apis`). */
import { isStatefulRequest } from '../dialect/responses/request.js';
import { SluiceError } from '../errors.js';
import type { RequestContext, RouteName } from '../pipeline/types.js';
import { type Candidate, UPSTREAM_KIND_OF, upstreamApis } from '../route/upstreams.js';

/**
 * The candidates that can answer this request: those serving its API, plus, for a stateless
 * Responses request, those serving chat completions (translated). Throws a 400 saying why
 * when there is none.
 */
export function servingCandidates(ctx: RequestContext, candidates: readonly Candidate[]): Candidate[] {
  const serves = (c: Candidate, api: RouteName) => upstreamApis(c.upstream).has(api);
  if (ctx.route !== 'responses') {
    // A chat or messages request sent to the other kind's upstream is translated to its route.
    const routeOn = (c: Candidate): RouteName =>
      c.upstream.kind === UPSTREAM_KIND_OF[ctx.dialect]
        ? ctx.route
        : c.upstream.kind === 'anthropic'
          ? 'messages'
          : 'chat';
    const serving = candidates.filter((c) => serves(c, routeOn(c)));
    if (serving.length > 0 || candidates.length === 0) return serving;
    throw new SluiceError(
      'invalid_request',
      `model '${ctx.model}' is served by upstream '${candidates[0].upstream.name}', which does not serve the ${ctx.route} API (upstreams[].apis)`,
      { param: 'model' },
    );
  }
  if (isStatefulRequest(ctx.body)) {
    const serving = candidates.filter((c) => serves(c, 'responses'));
    if (serving.length > 0 || candidates.length === 0) return serving;
    throw new SluiceError(
      'invalid_request',
      `this request is stateful (previous_response_id, conversation, prompt, background or store: true), and model '${ctx.model}' is served only by upstreams without the Responses API (${candidates.map((c) => c.upstream.name).join(', ')}; upstreams[].apis); send the whole conversation as input with store: false`,
      { param: statefulParam(ctx.body) },
    );
  }
  // Stateless: translated for chat-only servers and, through chat, for Anthropic upstreams.
  const serving = candidates.filter(
    (c) =>
      serves(c, 'responses') ||
      serves(c, 'chat') ||
      (c.upstream.kind === 'anthropic' && serves(c, 'messages')),
  );
  if (serving.length > 0 || candidates.length === 0) return serving;
  throw new SluiceError(
    'invalid_request',
    `model '${ctx.model}' is served by upstream '${candidates[0].upstream.name}', which serves neither the Responses API nor chat completions (upstreams[].apis)`,
    { param: 'model' },
  );
}

function statefulParam(body: Record<string, unknown>): string {
  for (const field of ['previous_response_id', 'conversation', 'prompt', 'background'])
    if (body[field] !== undefined && body[field] !== null && body[field] !== false) return field;
  return 'store';
}
