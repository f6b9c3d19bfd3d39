/**
 * The seed's head-and-tail trim of an over-long system prompt (opt-in): instructions and
 * output rules usually sit at the start and the end, so the middle goes first. Each system
 * text over `maxTokens` is cut in proportion to its token count and joined with a marker.
 */
import { DIALECTS } from '../dialect/index.js';
import type { Dialect } from '../pipeline/types.js';
import type { SystemTrimConfig } from './config.js';
import { isSystemRole, messagesOf } from '../dialect/messages.js';

export interface TrimResult {
  body: Record<string, unknown>;
  /** System texts that were cut. */
  trimmed: number;
}

export function trimText(text: string, count: (text: string) => number, config: SystemTrimConfig): string {
  let tokens = count(text);
  if (tokens <= config.maxTokens) return text;
  // Cut in proportion to the token count, then tighten: token density is not uniform.
  let keep = text.length;
  let out = text;
  for (let i = 0; i < 6 && tokens > config.maxTokens; i++) {
    keep = Math.max(0, Math.floor((keep * config.maxTokens) / tokens) - (i === 0 ? config.marker.length : 1));
    const head = Math.floor(keep * config.headShare);
    const tail = keep - head;
    out = text.slice(0, head) + config.marker + (tail > 0 ? text.slice(text.length - tail) : '');
    tokens = count(out);
    if (keep === 0) break;
  }
  return out;
}

/** Trim system prompts over the limit; undefined when none is. `count` gives a text's tokens. */
export function trimSystemPrompts(
  dialect: Dialect,
  body: Record<string, unknown>,
  config: SystemTrimConfig,
  count: (text: string) => number,
): TrimResult | undefined {
  let trimmed = 0;
  const trimContent = (content: unknown): unknown => {
    if (typeof content === 'string') {
      const out = trimText(content, count, config);
      if (out !== content) trimmed++;
      return out;
    }
    if (!Array.isArray(content)) return content;
    let changed = false;
    const blocks = content.map((b: Record<string, unknown>) => {
      if (b?.type !== 'text' || typeof b.text !== 'string') return b;
      const text = trimText(b.text, count, config);
      if (text === b.text) return b;
      changed = true;
      trimmed++;
      return { ...b, text };
    });
    return changed ? blocks : content;
  };
  const placement = DIALECTS[dialect].systemPrompt;
  if (placement.in === 'field') {
    const system = trimContent(body[placement.field]);
    return trimmed > 0 ? { body: { ...body, [placement.field]: system }, trimmed } : undefined;
  }
  const messages = messagesOf(body).map((m) => {
    if (!isSystemRole(m.role)) return m;
    const content = trimContent(m.content);
    return content === m.content ? m : { ...m, content };
  });
  return trimmed > 0 ? { body: { ...body, messages }, trimmed } : undefined;
}
