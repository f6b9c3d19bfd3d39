/**
 * `POST /v1/messages/count_tokens` (the Anthropic SDKs' `messages.countTokens`). A model with an
 * exact local tokenizer (OpenAI's) is counted here; an Anthropic model is counted by the
 * Anthropic upstream that serves it, since Claude's tokenizer is not public. When none of those
 * upstreams can answer (unreachable, 404, overloaded), the local estimate is the answer.
 * `x-sluice-token-count` says which: `exact`, `upstream` or `estimated`. Nothing is billed.
 */
import type { IncomingMessage } from 'node:http';
import { SluiceError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { createContext } from '../pipeline/context.js';
import type { Candidate } from '../route/upstreams.js';
import { countChatTokens, encodingFor } from '../tokens/count.js';
import { buildUpstreamHeaders } from '../upstream/providers.js';
import { requireJsonContentType } from './content-type.js';
import { type ExtraRoute, parseJson, readBody } from './http.js';
import { RouteReply } from './route-reply.js';
import { validateCountTokensBody } from '../dialect/validate.js';

export const TOKEN_COUNT_HEADER = 'x-sluice-token-count';

type Body = Record<string, unknown>;

export function countTokensRoute(gateway: Gateway): ExtraRoute {
  return async (req) => {
    requireJsonContentType(req.headers);
    const raw = await readBody(req, gateway.config.maxBodyBytes, gateway.config.server.bodyIdleTimeoutMs);
    const body = validateCountTokensBody(parseJson(raw));
    const ctx = createContext({
      dialect: 'anthropic',
      // The body is a messages conversation; the context exists only for the auth stage.
      route: 'messages',
      headers: req.headers,
      body,
      signal: AbortSignal.timeout(gateway.config.requestTimeoutMs),
      timeoutMs: gateway.config.requestTimeoutMs,
    });
    await gateway.authenticate(ctx);
    const model = body.model as string;
    if (encodingFor(model)) {
      const counted = countChatTokens('openai', asOpenAIChat(body), { model });
      return countReply(counted.tokens, counted.estimated ? 'estimated' : 'exact');
    }
    const candidates = anthropicCandidates(gateway, model);
    const answered = candidates && (await askUpstreams(gateway, req, body, candidates, ctx.signal));
    if (answered) return answered;
    const estimate = countChatTokens('anthropic', body, { model });
    return countReply(estimate.tokens, 'estimated');
  };
}

function countReply(tokens: number, how: 'exact' | 'upstream' | 'estimated', body?: unknown): RouteReply {
  return new RouteReply(body ?? { input_tokens: tokens }, { [TOKEN_COUNT_HEADER]: how });
}

/**
 * The Anthropic upstreams serving `model` itself (a fallback model counts differently), or
 * undefined when only an OpenAI-kind upstream serves it. A model nobody serves is a 404, as
 * `messages.create` would say.
 */
function anthropicCandidates(gateway: Gateway, model: string): Candidate[] | undefined {
  try {
    return gateway.router.candidates('anthropic', model).filter((c) => c.model === model);
  } catch (e) {
    if (e instanceof SluiceError && e.code === 'model_not_found') throw e;
    return undefined;
  }
}

/** Statuses after which another upstream, or the estimate, should answer instead. */
const cannotAnswer = (status: number): boolean =>
  status === 404 || status === 408 || status === 429 || status >= 500;

/**
 * Each candidate once, no retries: a count is cheap to estimate and not worth a wait. A 2xx
 * with a count, or the client's own error (400, 401, 413…), is the answer; else undefined.
 */
async function askUpstreams(
  gateway: Gateway,
  req: IncomingMessage,
  body: Body,
  candidates: readonly Candidate[],
  signal: AbortSignal,
): Promise<RouteReply | undefined> {
  const payload = JSON.stringify(body);
  const { scrubber } = gateway.pools;
  for (const candidate of candidates) {
    const target = gateway.pools.get(candidate.upstream.name);
    const headers = buildUpstreamHeaders(
      'anthropic',
      req.headers,
      target.apiKey,
      target.config.headers,
      target.config.forwardHeaderPrefixes,
    );
    let status: number;
    let parsed: unknown;
    try {
      const res = await target.pool.request({
        path: `${target.basePath}/messages/count_tokens`,
        method: 'POST',
        headers,
        body: payload,
        signal,
        headersTimeout: target.timeouts.firstByteMs,
        bodyTimeout: target.timeouts.idleMs,
      });
      status = res.statusCode;
      const text = Buffer.from(scrubber.bytes(new Uint8Array(await res.body.arrayBuffer()))).toString('utf8');
      parsed = JSON.parse(text);
    } catch (e) {
      gateway.log.warn(
        { upstream: target.config.name, err: (e as Error).message },
        'count_tokens upstream did not answer',
      );
      continue;
    }
    if (status >= 200 && status < 300) {
      const tokens = (parsed as { input_tokens?: unknown } | null)?.input_tokens;
      if (typeof tokens === 'number') return countReply(tokens, 'upstream', parsed);
      continue;
    }
    if (cannotAnswer(status)) {
      gateway.log.warn({ upstream: target.config.name, status }, 'count_tokens upstream could not answer');
      continue;
    }
    return new RouteReply(parsed, {}, status);
  }
  return undefined;
}

/**
 * An Anthropic messages body as the OpenAI chat request the tokenizer frames: the system
 * prompt as the first message, tools as functions. Content blocks other than text (tool use,
 * images) make the count an estimate (countChatTokens flags it).
 */
function asOpenAIChat(body: Body): Body {
  const messages: unknown[] = [];
  if (body.system !== undefined) messages.push({ role: 'system', content: body.system });
  if (Array.isArray(body.messages)) messages.push(...body.messages);
  const out: Body = { model: body.model, messages };
  if (Array.isArray(body.tools)) {
    out.tools = (body.tools as Array<Record<string, unknown>>).map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.input_schema },
    }));
  }
  return out;
}
