/**
 * Complexity routing, pure: compile the configured aliases once, then decide per request from
 * a few signals of its last user message. Every decision names the rule that made it, so the
 * choice is explainable (`x-sluice-route`) and tunable in config.
 */
import type { RoutingAlias, RoutingConfig, RoutingRule } from './config.js';

export interface RouteSignals {
  /** The last user message, trimmed. */
  text: string;
  /** Prompt tokens of the whole request; computed only if some rule asks for it. */
  contextTokens: () => number;
  hasTools: boolean;
}

export interface RouteDecision {
  alias: string;
  model: string;
  use: 'cheap' | 'strong';
  /**
   * Name of the rule that matched, `default`, `semantic` (chosen by meaning, see `score`) or
   * `semantic-timeout` / `semantic-error` (the embedder could not answer: the alias default).
   */
  rule: string;
  /** Semantic mode: similarity to strong exemplars minus similarity to cheap ones. */
  score?: number;
}

type Test = (s: RouteSignals) => boolean;

interface CompiledAlias {
  alias: RoutingAlias;
  rules: Array<{ name: string; use: 'cheap' | 'strong'; test: Test }>;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A keyword matches case-insensitively; one that starts with a letter or digit must start a word. */
function keywordRegExp(keyword: string): RegExp {
  const lead = /^[a-z0-9]/i.test(keyword) ? '(?<![a-z0-9])' : '';
  return new RegExp(lead + escapeRegExp(keyword), 'i');
}

function compileRule(rule: RoutingRule, where: string): Test {
  const w = rule.when;
  const tests: Test[] = [];
  if (w.minChars !== undefined) tests.push((s) => s.text.length >= w.minChars!);
  if (w.maxChars !== undefined) tests.push((s) => s.text.length <= w.maxChars!);
  if (w.hasTools !== undefined) tests.push((s) => s.hasTools === w.hasTools);
  if (w.pattern !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(w.pattern, 'i');
    } catch (e) {
      throw new TypeError(`${where}.when.pattern is not a valid regular expression: ${(e as Error).message}`);
    }
    tests.push((s) => re.test(s.text));
  }
  if (w.keywords !== undefined) {
    const res = w.keywords.map(keywordRegExp);
    const need = w.minKeywordHits;
    tests.push((s) => {
      let hits = 0;
      for (const re of res) if (re.test(s.text) && ++hits >= need) return true;
      return false;
    });
  }
  // Token counting is the dear signal: test it last, after the cheap ones passed.
  if (w.minContextTokens !== undefined) tests.push((s) => s.contextTokens() >= w.minContextTokens!);
  if (w.maxContextTokens !== undefined) tests.push((s) => s.contextTokens() <= w.maxContextTokens!);
  return (s) => tests.every((t) => t(s));
}

export class ComplexityRouter {
  readonly #aliases = new Map<string, CompiledAlias>();

  constructor(config: RoutingConfig) {
    for (const [name, alias] of Object.entries(config.aliases)) {
      this.#aliases.set(name, {
        alias,
        rules: alias.rules.map((rule, i) => ({
          name: rule.name,
          use: rule.use,
          test: compileRule(rule, `routing.aliases.${name}.rules[${i}]`),
        })),
      });
    }
  }

  isAlias(model: string): boolean {
    return this.#aliases.has(model);
  }

  /** The models an alias may resolve to (for listings and budget estimates). */
  targets(alias: string): { cheap: string; strong: string } | undefined {
    const a = this.#aliases.get(alias)?.alias;
    return a && { cheap: a.cheap, strong: a.strong };
  }

  /** How an alias decides when no rule matches (`rules`: its default; `semantic`: by meaning). */
  modeOf(alias: string): 'rules' | 'semantic' | undefined {
    return this.#aliases.get(alias)?.alias.mode;
  }

  /** Aliases configured with `mode: semantic`, with their settings. */
  semanticAliases(): Array<[string, RoutingAlias]> {
    return [...this.#aliases]
      .filter(([, c]) => c.alias.mode === 'semantic')
      .map(([name, c]) => [name, c.alias]);
  }

  /** Decide for an alias; undefined when `model` is not an alias (an explicit model is never changed). */
  decide(model: string, signals: RouteSignals): RouteDecision | undefined {
    return this.matchRule(model, signals) ?? this.choose(model, undefined, 'default');
  }

  /** The decision of the first rule that matches, or undefined when none does (or `model` is no alias). */
  matchRule(model: string, signals: RouteSignals): RouteDecision | undefined {
    const compiled = this.#aliases.get(model);
    if (!compiled) return undefined;
    for (const rule of compiled.rules) {
      if (rule.test(signals))
        return { alias: model, model: compiled.alias[rule.use], use: rule.use, rule: rule.name };
    }
    return undefined;
  }

  /** A decision for `use` (the alias default when undefined), named `rule`. */
  choose(
    alias: string,
    use: 'cheap' | 'strong' | undefined,
    rule: string,
    score?: number,
  ): RouteDecision | undefined {
    const compiled = this.#aliases.get(alias);
    if (!compiled) return undefined;
    const tier = use ?? compiled.alias.default;
    return { alias, model: compiled.alias[tier], use: tier, rule, ...(score === undefined ? {} : { score }) };
  }
}
