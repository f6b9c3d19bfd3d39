import type { Config, UpstreamConfig, UpstreamKind } from '../config/index.js';
import { SluiceError } from '../errors.js';
import type { Dialect, RouteName } from '../pipeline/types.js';

/** The kind of upstream that serves a client dialect as it is (no translation between kinds yet). */
export const UPSTREAM_KIND_OF = {
  openai: 'openai',
  anthropic: 'anthropic',
  responses: 'openai',
} as const satisfies Record<Dialect, UpstreamKind>;

/** The host whose OpenAI-kind upstreams serve the Responses API unless `apis` says otherwise. */
const RESPONSES_HOSTS = new Set(['api.openai.com']);

const apisOf = new WeakMap<object, ReadonlySet<RouteName>>();

/** The APIs an upstream serves: its `apis`, else its kind's default (see the config field). */
export function upstreamApis(
  upstream: Pick<UpstreamConfig, 'kind' | 'baseUrl' | 'apis'>,
): ReadonlySet<RouteName> {
  let apis = apisOf.get(upstream);
  if (!apis) {
    apis = defaultApis(upstream);
    apisOf.set(upstream, apis);
  }
  return apis;
}

function defaultApis(upstream: Pick<UpstreamConfig, 'kind' | 'baseUrl' | 'apis'>): ReadonlySet<RouteName> {
  if (upstream.apis) return new Set(upstream.apis);
  if (upstream.kind === 'anthropic') return new Set(['messages']);
  const apis: RouteName[] = ['chat', 'embeddings', 'completions'];
  if (RESPONSES_HOSTS.has(new URL(upstream.baseUrl).hostname)) apis.push('responses');
  return new Set(apis);
}

const MAX_MEMO_MODELS = 4096;

/** One place a request may be sent: an upstream and the model name to ask it for. */
export interface Candidate {
  upstream: UpstreamConfig;
  model: string;
}

/**
 * Maps a model to the upstreams that serve it, in config order, then the configured fallback
 * models' upstreams. Built once at boot; matching compiles each pattern once.
 */
export class UpstreamRouter {
  readonly #entries: Array<{ upstream: UpstreamConfig; match: (model: string) => boolean }>;
  readonly #fallbacks: Readonly<Record<string, readonly string[]>>;
  /**
   * Candidate lists by kind, model and `acrossKinds`: the config is fixed, so a list is
   * computed once per model rather than per request. Model names come from clients, so the
   * memo is bounded (cleared when full).
   */
  readonly #memo = new Map<string, readonly Candidate[]>();

  constructor(config: Pick<Config, 'upstreams' | 'fallbacks'>) {
    this.#entries = config.upstreams.map((upstream) => ({ upstream, match: modelMatcher(upstream.models) }));
    this.#fallbacks = config.fallbacks;
  }

  get upstreams(): readonly UpstreamConfig[] {
    return this.#entries.map((e) => e.upstream);
  }

  /**
   * Ordered candidates for `model` on upstreams of `kind`. With `acrossKinds`, a model (or
   * fallback model) no upstream of `kind` serves goes to the other kind's upstreams, and the
   * call is translated (src/upstream/translated-call.ts). Throws 404/400 errors a client can act on.
   */
  candidates(kind: UpstreamKind, model: string, acrossKinds = false): readonly Candidate[] {
    const key = `${kind}${acrossKinds ? '+' : ':'}${model}`;
    let list = this.#memo.get(key);
    if (!list) {
      list = Object.freeze(this.#candidates(kind, model, acrossKinds));
      if (this.#memo.size >= MAX_MEMO_MODELS) this.#memo.clear();
      this.#memo.set(key, list);
    }
    return list;
  }

  #candidates(kind: UpstreamKind, model: string, acrossKinds: boolean): Candidate[] {
    const list: Candidate[] = [];
    for (const m of [model, ...(this.#fallbacks[model] ?? [])]) {
      const own = this.#entries.filter((e) => e.upstream.kind === kind && e.match(m));
      const served = own.length > 0 || !acrossKinds ? own : this.#entries.filter((e) => e.match(m));
      for (const e of served) list.push({ upstream: e.upstream, model: m });
    }
    if (list.length > 0) return list;
    const other = this.#entries.find((e) => e.upstream.kind !== kind && e.match(model));
    if (other) {
      const route = other.upstream.kind === 'anthropic' ? '/v1/messages' : '/v1/chat/completions';
      throw new SluiceError(
        'invalid_request',
        `model '${model}' is served by the ${other.upstream.kind} upstream '${other.upstream.name}'; send it to ${route}`,
        { param: 'model' },
      );
    }
    throw new SluiceError('model_not_found', `The model '${model}' does not exist or no upstream serves it`, {
      param: 'model',
    });
  }

  /**
   * Name of the first upstream that would serve the request (for per-upstream limits): of
   * `kind`, else (a translated call) of the other kind.
   */
  primaryUpstream(kind: UpstreamKind, model: string): string | undefined {
    return (
      this.#entries.find((e) => e.upstream.kind === kind && e.match(model)) ??
      this.#entries.find((e) => e.match(model))
    )?.upstream.name;
  }

  /** Exact (non-pattern) model names from the config, per upstream. */
  listedModels(): Array<{ id: string; upstream: string; kind: UpstreamKind }> {
    return this.#entries.flatMap((e) =>
      e.upstream.models
        .filter((m) => !m.includes('*'))
        .map((id) => ({ id, upstream: e.upstream.name, kind: e.upstream.kind })),
    );
  }
}

export function modelMatcher(patterns: readonly string[]): (model: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const globs = patterns.filter((p) => p.includes('*')).map(globToRegExp);
  return (model) => exact.has(model) || globs.some((re) => re.test(model));
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
