/**
 * What a request looks like on the wire to one candidate upstream: the client's own request
 * when the upstream serves the route's API, else (Responses API to a chat-completions-only
 * server) a translated request with the translation of its reply.
 */
import { chatCallFor } from '../dialect/responses/chat-call.js';
import { isStatefulRequest } from '../dialect/responses/request.js';
import { SluiceError } from '../errors.js';
import type { Dialect, RequestContext, RouteName } from '../pipeline/types.js';
import { type Candidate, upstreamApis } from '../route/upstreams.js';

export interface Wire {
  route: RouteName;
  /** Dialect of the upstream's reply (usage is read from it before any translation). */
  dialect: Dialect;
  body: Record<string, unknown>;
  /** Translate a parsed 2xx JSON reply into the client's dialect. */
  reply?: (parsed: Record<string, unknown>) => Record<string, unknown>;
  /** Translate a 2xx stream into the client's dialect. */
  stream?: (chunks: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;
}

const TRANSLATED_CALL = 'responses.chatCall';

export function wireFor(ctx: RequestContext, candidate: Candidate): Wire {
  const asIs: Wire = { route: ctx.route, dialect: ctx.dialect, body: ctx.body };
  if (ctx.route !== 'responses' || upstreamApis(candidate.upstream).has('responses')) return asIs;
  // Built once per request (fallback candidates share it); the body may have changed since a
  // previous request stage, so it is keyed on the body object itself.
  let call = ctx.notes.get(TRANSLATED_CALL) as
    | { from: unknown; call: ReturnType<typeof chatCallFor> }
    | undefined;
  if (call?.from !== ctx.body) {
    call = { from: ctx.body, call: chatCallFor(ctx.body) };
    ctx.notes.set(TRANSLATED_CALL, call);
  }
  return {
    route: 'chat',
    dialect: 'openai',
    body: call.call.body,
    reply: call.call.reply,
    stream: call.call.stream,
  };
}

/**
 * The candidates that can answer this request: those serving its API, plus, for a stateless
 * Responses request, those serving chat completions (translated). Throws a 400 saying why
 * when there is none.
 */
export function servingCandidates(ctx: RequestContext, candidates: Candidate[]): Candidate[] {
  const serves = (c: Candidate, api: RouteName) => upstreamApis(c.upstream).has(api);
  if (ctx.route !== 'responses') {
    const serving = candidates.filter((c) => serves(c, ctx.route));
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
  const serving = candidates.filter((c) => serves(c, 'responses') || serves(c, 'chat'));
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
