/**
 * What the upstream stage sends for one candidate, and how its reply comes back. A native
 * call sends the client's body as it is. A translated call (the model is served only by an
 * upstream of the other dialect) sends the body translated by src/dialect/translate/ to the
 * other route, and turns the reply (JSON, SSE or error) back into the client's dialect.
 * Usage is read from the upstream's own reply (`ctx.usage` is dialect-neutral), so prices and
 * budgets see what the answering model reported; caches, keyed on the client's request, see
 * only client-dialect bytes.
 */
import type { UpstreamConfig, UpstreamKind } from '../config/index.js';
import { chatCallFor } from '../dialect/responses/chat-call.js';
import { ChatToResponsesStream } from '../dialect/responses/stream.js';
import { type SseEvent, SseParser } from '../dialect/sse.js';
import {
  ChatToMessagesStream,
  chatResponseToMessages,
  chatToMessagesRequest,
  MessagesToChatStream,
  messagesResponseToChat,
  messagesToChatRequest,
  type StreamTransducer,
  type TranslationConfig,
  translateErrorBody,
} from '../dialect/translate/index.js';
import { DIALECTS } from '../dialect/index.js';
import { SluiceError } from '../errors.js';
import type { Dialect, JsonReply, Reply, RequestContext, RouteName } from '../pipeline/types.js';
import { upstreamApis } from '../route/upstreams.js';

type Chunks = AsyncIterable<Uint8Array>;

export interface UpstreamCall {
  /** Dialect and route of the upstream request. */
  dialect: Dialect;
  route: RouteName;
  body: Record<string, unknown>;
  translated: boolean;
  /**
   * Turns the upstream's SSE events into the client's (translated streams only). Fed the
   * events the upstream stage already parsed for the usage meter, so the upstream's stream
   * is parsed once.
   */
  streamTransducer?: () => StreamTransducer;
  /**
   * Turns the client-bound stream (after usage is metered and the usage chunk handled) into
   * the client's API: a Responses API request answered by chat completions.
   */
  clientStream?: (chunks: Chunks) => Chunks;
  /** Turns the upstream's reply (a 2xx JSON body or an error body) into the client's dialect. */
  reply(reply: Reply): Reply;
}

const ROUTE_OF: Record<UpstreamKind, RouteName> = { openai: 'chat', anthropic: 'messages' };

type Way = 'native' | 'translated' | 'responses-as-chat' | 'responses-as-messages';

function wayTo(ctx: RequestContext, upstream: UpstreamConfig): Way {
  if (ctx.route === 'responses') {
    if (upstream.kind === 'anthropic') return 'responses-as-messages';
    return upstreamApis(upstream).has('responses') ? 'native' : 'responses-as-chat';
  }
  if ((ctx.route === 'chat' || ctx.route === 'messages') && upstream.kind !== ctx.dialect)
    return 'translated';
  return 'native';
}

/**
 * How this request goes to `upstream`: as sent; translated to the other chat dialect (a
 * model only the other kind serves); or, for a Responses API request to a server that only
 * speaks chat completions, as chat completions. Built once per way and request (`memo`).
 * Throws a 400 naming the first parameter the target cannot honour.
 */
export function upstreamCallFor(
  ctx: RequestContext,
  upstream: UpstreamConfig,
  config: TranslationConfig,
  memo: Map<string, UpstreamCall>,
): UpstreamCall {
  const way = wayTo(ctx, upstream);
  const key = way === 'translated' ? `${way}:${upstream.kind}` : way;
  let call = memo.get(key);
  if (!call) {
    call =
      way === 'native'
        ? nativeCall(ctx)
        : way === 'translated'
          ? translatedCall(ctx, upstream.kind, config)
          : way === 'responses-as-chat'
            ? responsesAsChatCall(ctx)
            : responsesAsMessagesCall(ctx, config);
    memo.set(key, call);
  }
  return call;
}

/** Usage is read from the chat stream as for any chat call; the client gets Responses events. */
function responsesAsChatCall(ctx: RequestContext): UpstreamCall {
  const chat = chatCallFor(ctx.body);
  return {
    dialect: 'openai',
    route: 'chat',
    body: chat.body,
    translated: false,
    clientStream: ctx.stream ? chat.stream : undefined,
    reply(reply) {
      if (reply.kind === 'stream' || reply.status >= 400) return reply;
      const parsed = reply.parsed;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return reply;
      return withJsonBody(reply, chat.reply(parsed as Record<string, unknown>));
    },
  };
}

/**
 * A Responses API request to an Anthropic upstream, through chat completions as the pivot:
 * Responses → chat (dialect/responses) → Messages (dialect/translate), and the reply back the
 * same way. The pivot is in-process only; usage is read from the Anthropic reply itself.
 */
function responsesAsMessagesCall(ctx: RequestContext, config: TranslationConfig): UpstreamCall {
  const chat = chatCallFor(ctx.body);
  const body = chatToMessagesRequest(chat.body, { defaultMaxTokens: config.defaultMaxTokens });
  const transducer = (): StreamTransducer =>
    new PipedTransducer(
      // The chat pivot always carries usage: the Responses stream reports it in response.completed.
      new MessagesToChatStream({ includeUsage: true, requestedModel: ctx.requestedModel }),
      new ChatToResponsesStream(ctx.body),
    );
  return {
    dialect: 'anthropic',
    route: 'messages',
    body,
    translated: true,
    streamTransducer: ctx.stream ? transducer : undefined,
    // The Responses API's errors have OpenAI's shape.
    reply: (reply) =>
      translateJsonReply(reply, 'anthropic', 'openai', (parsed) =>
        chat.reply(messagesResponseToChat(parsed, ctx.requestedModel)),
      ),
  };
}

/** Two transducers in a row: the first one's SSE text is parsed and fed to the second. */
class PipedTransducer implements StreamTransducer {
  readonly #parser = new SseParser();
  #failed = false;
  constructor(
    readonly first: StreamTransducer,
    readonly second: { push(event: SseEvent): string; end(): string },
  ) {}

  push(event: SseEvent): string {
    return this.#pass(this.first.push(event));
  }

  end(): string {
    let out = this.#pass(this.first.end());
    for (const event of this.#parser.end()) out += this.second.push(event);
    return out + this.second.end();
  }

  /** The failure as the Responses API's error event (the pivot stream is never sent). */
  fail(error: SluiceError): string {
    if (this.#failed) return '';
    this.#failed = true;
    return DIALECTS.responses.errorEvent(error);
  }

  #pass(text: string): string {
    if (!text) return '';
    let out = '';
    for (const event of this.#parser.feed(encoder.encode(text))) out += this.second.push(event);
    return out;
  }
}

const encoder = new TextEncoder();

export function nativeCall(ctx: RequestContext): UpstreamCall {
  return { dialect: ctx.dialect, route: ctx.route, body: ctx.body, translated: false, reply: (r) => r };
}

/** Throws a 400 naming the first parameter the upstream's dialect cannot honour. */
export function translatedCall(
  ctx: RequestContext,
  upstream: UpstreamKind,
  config: TranslationConfig,
): UpstreamCall {
  const client = ctx.dialect;
  if (client === 'responses' || ctx.route === 'embeddings')
    throw new SluiceError('internal', `a ${ctx.route} request is never translated to another chat dialect`);
  const body =
    upstream === 'anthropic'
      ? chatToMessagesRequest(ctx.body, { defaultMaxTokens: config.defaultMaxTokens })
      : messagesToChatRequest(ctx.body);
  const transducer = (): StreamTransducer =>
    upstream === 'anthropic'
      ? new MessagesToChatStream({
          includeUsage: DIALECTS.openai.wantsStreamUsage(ctx.body),
          requestedModel: ctx.requestedModel,
        })
      : new ChatToMessagesStream({ requestedModel: ctx.requestedModel });
  return {
    dialect: upstream,
    route: ROUTE_OF[upstream],
    body,
    translated: true,
    streamTransducer: ctx.stream ? transducer : undefined,
    reply: (reply) =>
      translateJsonReply(reply, upstream, client, (parsed) =>
        upstream === 'anthropic'
          ? messagesResponseToChat(parsed, ctx.requestedModel)
          : chatResponseToMessages(parsed),
      ),
  };
}

/**
 * A JSON reply in the upstream's dialect turned into the client's: an error body by
 * `translateErrorBody`, a 2xx body (which must be a JSON object) by `toClient`.
 */
function translateJsonReply(
  reply: Reply,
  upstream: UpstreamKind,
  client: 'openai' | 'anthropic',
  toClient: (parsed: Record<string, unknown>) => unknown,
): Reply {
  if (reply.kind === 'stream') return reply;
  if (reply.status >= 400)
    return withJsonBody(reply, translateErrorBody(upstream, client, reply.status, parseLoosely(reply.body)));
  const parsed = reply.parsed;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new SluiceError(
      'upstream_error',
      `upstream answered ${reply.status} with a body that is not a JSON object`,
    );
  return withJsonBody(reply, toClient(parsed as Record<string, unknown>));
}

function withJsonBody(reply: JsonReply, translated: unknown): JsonReply {
  return { ...reply, body: Buffer.from(JSON.stringify(translated)), parsed: translated };
}

function parseLoosely(body: Uint8Array): unknown {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
