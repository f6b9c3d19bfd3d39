import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TargetId } from './targets.js';

/** A section of BENCHMARKS.md and a results file prefix. */
export type Group = 'core' | 'cache' | 'translate';

/**
 * What a load request asks for: the OpenAI route to an OpenAI-kind model (the default), the
 * OpenAI route to a model only the Anthropic-kind upstream serves (Sluice translates the call
 * both ways), or the Anthropic route to that model (native, no translation).
 */
export type RequestKind = 'openai' | 'translated' | 'anthropic';

interface ScenarioBase {
  name: string;
  group: Group;
  target: TargetId;
  /** One line for `--list`. */
  about: string;
}

/** Throughput and latency under autocannon for a fixed duration. */
export interface LoadScenario extends ScenarioBase {
  kind: 'load';
  /** Default 'openai'. */
  request?: RequestKind;
  stream: boolean;
  connections: number;
  /** Extra request headers (e.g. cache controls). */
  headers?: Record<string, string>;
  /** Extra body fields. */
  fields?: Record<string, unknown>;
  /** A distinct `seed` per request: every request a cache miss. */
  uniqueSeed?: boolean;
  /** `x-sluice-cache` values the verification request must show (after priming, when set). */
  expectCache?: readonly string[];
  /** Send the request once before verifying (fills the cache). */
  prime?: boolean;
}

/** Time to first byte of a stream from the paced upstream, sequential requests. */
export interface TtfbScenario extends ScenarioBase {
  kind: 'ttfb';
}

export type Scenario = LoadScenario | TtfbScenario;

export const CONCURRENCIES = [1, 50] as const;

/** The proxy path must not be answered from a cache, or it would flatter Sluice against Portkey. */
const NOT_CACHED = ['miss', 'bypass', ''];

const CORE_TARGETS = ['direct', 'floor', 'sluice', 'portkey'] as const;

function through(target: (typeof CORE_TARGETS)[number]): string {
  if (target === 'direct') return 'straight to the simulated upstream';
  if (target === 'floor') return 'through a minimal node:http + undici proxy (the floor of any Node gateway)';
  return `through ${target}`;
}

function coreScenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const target of CORE_TARGETS) {
    for (const stream of [false, true]) {
      for (const connections of CONCURRENCIES) {
        list.push({
          kind: 'load',
          name: `${target}-${stream ? 'stream' : 'json'}-c${connections}`,
          group: 'core',
          target,
          stream,
          connections,
          expectCache: target === 'sluice' ? NOT_CACHED : undefined,
          about: `${through(target)}, ${stream ? 'streaming' : 'non-streaming'}, concurrency ${connections}`,
        });
      }
    }
  }
  for (const target of CORE_TARGETS) {
    list.push({
      kind: 'ttfb',
      name: `${target}-ttfb`,
      group: 'core',
      target,
      about: `stream time to first byte ${target === 'direct' ? 'from the paced upstream' : through(target)}, sequential`,
    });
  }
  return list;
}

/** `temperature: 0` makes a request deterministic, so the exact cache may keep it. */
const CACHEABLE = { temperature: 0 };

function cacheScenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const connections of CONCURRENCIES) {
    list.push({
      kind: 'load',
      name: `cache-hit-json-c${connections}`,
      group: 'cache',
      target: 'sluice-cache',
      stream: false,
      connections,
      fields: CACHEABLE,
      prime: true,
      expectCache: ['exact'],
      about: `exact-cache hit over HTTP, concurrency ${connections}`,
    });
    list.push({
      kind: 'load',
      name: `cache-miss-json-c${connections}`,
      group: 'cache',
      target: 'sluice-cache',
      stream: false,
      connections,
      // Every request a real miss: key, lookup, upstream call, then the entry written.
      fields: CACHEABLE,
      uniqueSeed: true,
      expectCache: ['miss'],
      about: `exact-cache miss path (a new seed per request), concurrency ${connections}`,
    });
  }
  list.push({
    kind: 'load',
    name: 'cache-hit-stream-c50',
    group: 'cache',
    target: 'sluice-cache',
    stream: true,
    connections: 50,
    fields: CACHEABLE,
    prime: true,
    expectCache: ['exact'],
    about: 'exact-cache hit replayed as SSE, concurrency 50',
  });
  return list;
}

/**
 * Issue 10: translated calls within 10 % of untranslated ones. The untranslated comparison is
 * `sluice-{json,stream}-c*` (same route and body, an OpenAI-kind model); the native Anthropic
 * request to the same model shows what the upstream's other dialect costs by itself.
 */
function translateScenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const stream of [false, true]) {
    const mode = stream ? 'stream' : 'json';
    const label = stream ? 'streaming' : 'non-streaming';
    for (const connections of CONCURRENCIES) {
      list.push({
        kind: 'load',
        name: `sluice-translated-${mode}-c${connections}`,
        group: 'translate',
        target: 'sluice',
        request: 'translated',
        stream,
        connections,
        expectCache: NOT_CACHED,
        about: `OpenAI route, claude model: translated to Anthropic Messages and back, ${label}, concurrency ${connections}`,
      });
    }
    list.push({
      kind: 'load',
      name: `sluice-anthropic-${mode}-c50`,
      group: 'translate',
      target: 'sluice',
      request: 'anthropic',
      stream,
      connections: 50,
      expectCache: NOT_CACHED,
      about: `Anthropic route (/v1/messages), claude model, native, ${label}, concurrency 50`,
    });
  }
  return list;
}

/**
 * Extra config per Sluice variant. `sluice` is the proxy path (caches off); `sluice-cache` turns
 * the exact cache on. Update these when the config keys of the areas land.
 */
export const SLUICE_CONFIG: Record<'sluice' | 'sluice-cache', Record<string, unknown>> = {
  sluice: {},
  'sluice-cache': { cache: { enabled: true } },
};

/** Whether the build has the exact cache and the gateway wires it in (the cache scenarios need both). */
export function hasExactCache(root: string): boolean {
  const dir = join(root, 'dist', 'cache');
  const gateway = join(root, 'dist', 'gateway.js');
  if (!existsSync(dir) || !existsSync(gateway)) return false;
  const built = readdirSync(dir, { recursive: true, encoding: 'utf8' }).some(
    (f) => f.includes('exact') && f.endsWith('.js'),
  );
  return built && /from '\.\/cache\//.test(readFileSync(gateway, 'utf8'));
}

export function allScenarios(): Scenario[] {
  return [...coreScenarios(), ...translateScenarios(), ...cacheScenarios()];
}

/** `--only` items: a scenario name, a group, a target, or a glob with `*` (e.g. `*-c50`). */
export function selectScenarios(all: Scenario[], only: string[]): Scenario[] {
  if (only.length === 0) return all;
  const picked = all.filter((s) => only.some((item) => matches(s, item)));
  const unknown = only.filter((item) => !all.some((s) => matches(s, item)));
  if (unknown.length > 0) {
    throw new Error(`--only: nothing matches ${unknown.join(', ')}. Run with --list to see the scenarios.`);
  }
  return picked;
}

function matches(s: Scenario, item: string): boolean {
  if (item === s.name || item === s.group || item === s.target) return true;
  if (!item.includes('*')) return false;
  const pattern = new RegExp(`^${item.split('*').map(escapeRegExp).join('.*')}$`);
  return pattern.test(s.name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
