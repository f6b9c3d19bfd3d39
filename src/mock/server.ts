import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  renderAnthropicMessages,
  validateAnthropicConversation,
  validateAnthropicMessages,
} from './anthropic-messages.js';
import { isRecord, type Json, prepareChat, type Rendered } from './chat-request.js';
import { anthropicConversation, openAIConversation } from './conversation.js';
import { renderCountTokens } from './count-tokens.js';
import { deliverJson, deliverStream, sendJson, type Timing } from './deliver.js';
import { renderEmbeddings, validateEmbeddings } from './embeddings.js';
import { type Dialect, type ErrorSpec, errorBody } from './errors.js';
import { FaultInjector, type FaultRates } from './faults.js';
import { anthropicModelsBody, openAIModelsBody } from './models.js';
import { renderOpenAIChat, validateOpenAIChat } from './openai-chat.js';
import { renderOpenAICompletions, validateOpenAICompletions } from './openai-completions.js';
import { MockResponses, validateOpenAIResponses } from './openai-responses.js';
import {
  type MockCounts,
  type MockUpstream,
  type MockUpstreamOptions,
  type ReceivedRequest,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { PromptCacheSimulator } from './prompt-cache.js';

type RouteName = 'chat' | 'messages' | 'count_tokens' | 'completions' | 'responses' | 'embeddings' | 'models';

const ROUTES: Record<string, RouteName> = {
  '/v1/chat/completions': 'chat',
  '/v1/messages': 'messages',
  '/v1/messages/count_tokens': 'count_tokens',
  '/v1/completions': 'completions',
  '/v1/responses': 'responses',
  '/v1/embeddings': 'embeddings',
  '/v1/models': 'models',
};

const BODY_LIMIT = 64 * 1024 * 1024;
const PROMPT_CACHE_TTL_MS = 5 * 60_000;

const VALIDATORS: Record<Exclude<RouteName, 'models'>, (body: Json) => ErrorSpec | undefined> = {
  chat: validateOpenAIChat,
  messages: validateAnthropicMessages,
  count_tokens: validateAnthropicConversation,
  completions: validateOpenAICompletions,
  responses: validateOpenAIResponses,
  embeddings: validateEmbeddings,
};

function headerNumber(headers: IncomingHttpHeaders, name: string): number | undefined {
  const v = headers[name];
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Collects a request body as text; `undefined` when it exceeds the limit. */
function readBody(req: IncomingMessage, onBody: (text: string | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= BODY_LIMIT) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > BODY_LIMIT) {
      onBody(undefined);
      return;
    }
    onBody((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'));
  });
  // A client that disconnects mid-body gets no answer; there is nobody to send it to.
  req.on('error', () => {});
}

/** The simulated provider: routes, bookkeeping, faults. One instance per server. */
class MockProvider {
  readonly received: ReceivedRequest[] = [];
  readonly #opts: ResolvedOptions;
  readonly #faults: FaultInjector;
  readonly #promptCache: PromptCacheSimulator;
  readonly #responses = new MockResponses();
  readonly #bearer: string | undefined;
  #total = 0;
  #attempts = 0;
  #byPath = new Map<string, number>();
  #byModel = new Map<string, number>();

  constructor(opts: ResolvedOptions) {
    this.#opts = opts;
    this.#faults = new FaultInjector(opts.faults, opts.seed);
    this.#promptCache = new PromptCacheSimulator(opts.promptCacheMinTokens, PROMPT_CACHE_TTL_MS);
    this.#bearer = opts.apiKey === undefined ? undefined : `Bearer ${opts.apiKey}`;
  }

  counts(): MockCounts {
    return {
      total: this.#total,
      attempts: this.#attempts,
      byPath: Object.fromEntries(this.#byPath),
      byModel: Object.fromEntries(this.#byModel),
    };
  }

  setFaults(rates: Partial<FaultRates>): void {
    this.#faults.setRates(rates);
  }

  reset(): void {
    this.received.length = 0; // keep the array: callers may hold a reference to it
    this.#total = 0;
    this.#attempts = 0;
    this.#byPath.clear();
    this.#byModel.clear();
    this.#faults.reset();
    this.#promptCache.clear();
    this.#responses.clear();
  }

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const route = ROUTES[path] as RouteName | undefined;
    const dialect: Dialect =
      route === 'messages' ||
      route === 'count_tokens' ||
      (route === 'models' && req.headers['anthropic-version'] !== undefined)
        ? 'anthropic'
        : 'openai';
    if (route === undefined) {
      this.#fail(res, dialect, {
        status: 404,
        message: `Unknown request URL: ${req.method} ${path}.`,
      });
      return;
    }
    const method = route === 'models' ? 'GET' : 'POST';
    if (req.method !== method) {
      this.#fail(res, dialect, { status: 405, message: `Use ${method} for ${path}.` });
      return;
    }
    if (route === 'models') {
      this.#attempts++;
      this.#remember(path, req.headers, undefined);
      if (!this.#authorized(req.headers)) {
        this.#unauthorized(res, dialect);
        return;
      }
      sendJson(res, 200, dialect === 'anthropic' ? anthropicModelsBody : openAIModelsBody);
      this.#succeeded(path, undefined);
      return;
    }
    readBody(req, (text) => {
      try {
        this.#answer(route, path, dialect, req, res, text);
      } catch (err) {
        // A bug in the mock must not take the process down mid-benchmark; say what broke.
        if (res.headersSent) res.destroy();
        else
          this.#fail(res, dialect, {
            status: 500,
            message: `mock upstream failed: ${(err as Error).message}`,
          });
      }
    });
  };

  #answer(
    route: Exclude<RouteName, 'models'>,
    path: string,
    dialect: Dialect,
    req: IncomingMessage,
    res: ServerResponse,
    text: string | undefined,
  ): void {
    this.#attempts++;
    if (text === undefined) {
      this.#fail(res, dialect, { status: 413, message: 'Request body too large.' });
      return;
    }
    let body: unknown;
    let isJson = true;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
      isJson = false;
    }
    this.#remember(path, req.headers, body, text);
    if (!this.#authorized(req.headers)) {
      this.#unauthorized(res, dialect);
      return;
    }
    if (!isJson || !isRecord(body)) {
      this.#fail(res, dialect, {
        status: 400,
        message: 'We could not parse the JSON body of your request. Expected a JSON object.',
      });
      return;
    }
    const invalid = VALIDATORS[route](body);
    if (invalid !== undefined) {
      this.#fail(res, dialect, invalid);
      return;
    }
    const earlier = route === 'responses' ? this.#responses.earlier(body) : [];
    if (!Array.isArray(earlier)) {
      this.#fail(res, dialect, earlier);
      return;
    }

    let slowMs = 0;
    let dropMidway = false;
    const fault = this.#faults.decide(req.headers);
    switch (fault?.kind) {
      case 'status':
        this.#fail(res, dialect, fault.error);
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'hang':
        return; // never answer; the socket's close releases everything
      case 'slow':
        slowMs = fault.ms;
        break;
      case 'drop-mid-stream':
        dropMidway = true;
        break;
    }
    const timing: Timing = {
      latencyMs: (headerNumber(req.headers, 'x-mock-latency-ms') ?? this.#opts.latencyMs) + slowMs,
      tokenDelayMs: headerNumber(req.headers, 'x-mock-token-delay-ms') ?? this.#opts.tokenDelayMs,
    };
    const model = body.model as string;
    const done = () => this.#succeeded(path, model);

    if (route === 'embeddings') {
      deliverJson(res, renderEmbeddings(body), 0, timing, dropMidway, done);
      return;
    }
    if (route === 'count_tokens') {
      deliverJson(res, renderCountTokens(body), 0, timing, dropMidway, done);
      return;
    }
    let rendered: Rendered;
    if (route === 'completions') {
      rendered = renderOpenAICompletions(body);
    } else if (route === 'responses') {
      rendered = this.#responses.render(body, earlier);
    } else if (route === 'chat') {
      rendered = renderOpenAIChat(body, prepareChat(openAIConversation(body)));
    } else {
      const chat = prepareChat(anthropicConversation(body));
      rendered = renderAnthropicMessages(body, chat, this.#promptCache.account(chat.conversation));
    }
    if (rendered.kind === 'json') deliverJson(res, rendered.body, rendered.tokens, timing, dropMidway, done);
    else deliverStream(res, rendered.stream, timing, dropMidway, done);
  }

  #authorized(headers: IncomingHttpHeaders): boolean {
    if (this.#bearer === undefined) return true;
    return headers.authorization === this.#bearer || headers['x-api-key'] === this.#opts.apiKey;
  }

  #unauthorized(res: ServerResponse, dialect: Dialect): void {
    const message = dialect === 'anthropic' ? 'invalid x-api-key' : 'Incorrect API key provided.';
    this.#fail(res, dialect, { status: 401, message });
  }

  #fail(res: ServerResponse, dialect: Dialect, error: ErrorSpec): void {
    sendJson(res, error.status, errorBody(dialect, error), error.headers);
  }

  #remember(path: string, headers: IncomingHttpHeaders, body: unknown, text?: string): void {
    if (this.#opts.receivedLimit === 0) return;
    this.received.push(text === undefined ? { path, headers, body } : { path, headers, body, text });
    if (this.received.length > this.#opts.receivedLimit) this.received.shift();
  }

  #succeeded(path: string, model: string | undefined): void {
    this.#total++;
    this.#byPath.set(path, (this.#byPath.get(path) ?? 0) + 1);
    if (model !== undefined) this.#byModel.set(model, (this.#byModel.get(model) ?? 0) + 1);
  }
}

/** Start a mock OpenAI/Anthropic upstream on 127.0.0.1 (ephemeral port unless `port` is given). */
export async function startMockUpstream(options: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const opts = resolveOptions(options);
  const provider = new MockProvider(opts);
  const server = createServer({ noDelay: true, requestTimeout: 0 }, provider.onRequest);
  // Longer than any client's idle timeout, so a pooled client never reuses a socket the
  // mock is closing (a source of spurious ECONNRESET under load).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    received: provider.received,
    counts: () => provider.counts(),
    reset: () => provider.reset(),
    setFaults: (rates) => provider.setFaults(rates),
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Hanging and streaming requests would hold close() open forever otherwise.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
