/**
 * Anthropic prompt-cache breakpoints (L3), pure. Anthropic caches a prompt prefix only up to a
 * block marked `cache_control`, at most 4 marks per request, and only when the prefix is long
 * enough (1,024–4,096 tokens by model). This adds marks where they pay off, in priority order:
 *   1. the end of the system prompt (or of the tools when there is no system prompt),
 *   2. the end of the conversation so far, when there is a history (the next turn reads it),
 *   3. long static documents inside the conversation,
 *   4. the end of the tools, when the tools alone are cacheable.
 * It never moves, adds or removes content: a string system prompt or message becomes one text
 * block carrying the same text. Marks the caller set are kept and count against the 4; a request
 * with top-level `cache_control` (automatic caching) is left alone. Inserted marks respect
 * Anthropic's rule that 1-hour entries precede 5-minute ones.
 */

export type BreakpointPlace = 'system' | 'tools' | 'conversation' | 'document';

export interface BreakpointOptions {
  /** Shortest cacheable prefix for the model, in tokens. */
  minTokens: number;
  /** A block at least this long (tokens) counts as a static document. */
  documentMinTokens: number;
  ttl: '5m' | '1h';
  /** Tokens of a text (an estimate is fine: it only decides whether a prefix is long enough). */
  countText: (text: string) => number;
}

export interface BreakpointResult {
  body: Record<string, unknown>;
  added: BreakpointPlace[];
  /** Breakpoints the caller had set. */
  existing: number;
}

const MAX_BREAKPOINTS = 4;
const CACHEABLE = new Set(['text', 'image', 'document', 'tool_use', 'tool_result', 'search_result']);
const IMAGE_TOKENS = 1600;

type Block = Record<string, unknown>;

/** One place a mark can go, in prefix order (tools → system → messages). */
interface Position {
  where:
    | { kind: 'tool'; i: number }
    | { kind: 'system'; i: number }
    | { kind: 'message'; m: number; i: number };
  cumulative: number;
  ttl?: '5m' | '1h';
  cacheable: boolean;
  document: boolean;
}

function blockTokens(b: Block, count: (t: string) => number): number {
  switch (b?.type) {
    case 'text':
      return typeof b.text === 'string' ? count(b.text) : 0;
    case 'image':
      return IMAGE_TOKENS;
    case 'document': {
      const source = b.source as { type?: string; data?: unknown } | undefined;
      if (typeof source?.data !== 'string') return 0;
      return source.type === 'text' ? count(source.data) : Math.ceil(source.data.length / 4);
    }
    case 'tool_use':
      return count(JSON.stringify(b.input ?? {})) + 8;
    case 'tool_result':
      return typeof b.content === 'string'
        ? count(b.content)
        : Array.isArray(b.content)
          ? (b.content as Block[]).reduce((n, x) => n + blockTokens(x, count), 0)
          : 0;
    default:
      return typeof b?.text === 'string' ? count(b.text) : 0;
  }
}

const ttlOf = (b: unknown): '5m' | '1h' | undefined => {
  const cc = (b as Block | undefined)?.cache_control as { ttl?: unknown } | undefined;
  if (!cc || typeof cc !== 'object') return undefined;
  return cc.ttl === '1h' ? '1h' : '5m';
};

const asBlocks = (content: unknown): Block[] =>
  typeof content === 'string'
    ? [{ type: 'text', text: content }]
    : Array.isArray(content)
      ? (content as Block[])
      : [];

const isCacheable = (b: Block): boolean =>
  CACHEABLE.has(String(b?.type)) && !(b.type === 'text' && (typeof b.text !== 'string' || b.text === ''));

function positions(body: Record<string, unknown>, options: BreakpointOptions): Position[] {
  const out: Position[] = [];
  let cumulative = 0;
  const tools = Array.isArray(body.tools) ? (body.tools as Block[]) : [];
  tools.forEach((t, i) => {
    cumulative += options.countText(JSON.stringify(t)) + 8;
    out.push({ where: { kind: 'tool', i }, cumulative, ttl: ttlOf(t), cacheable: true, document: false });
  });
  asBlocks(body.system).forEach((b, i) => {
    cumulative += blockTokens(b, options.countText);
    out.push({
      where: { kind: 'system', i },
      cumulative,
      ttl: ttlOf(b),
      cacheable: isCacheable(b),
      document: false,
    });
  });
  const messages = Array.isArray(body.messages) ? (body.messages as Block[]) : [];
  messages.forEach((msg, m) => {
    asBlocks(msg?.content).forEach((b, i) => {
      const tokens = blockTokens(b, options.countText);
      cumulative += tokens + (i === 0 ? 4 : 0);
      out.push({
        where: { kind: 'message', m, i },
        cumulative,
        ttl: ttlOf(b),
        cacheable: isCacheable(b),
        document: b?.type === 'document' || (b?.type === 'text' && tokens >= options.documentMinTokens),
      });
    });
  });
  return out;
}

export function insertCacheBreakpoints(
  body: Record<string, unknown>,
  options: BreakpointOptions,
): BreakpointResult {
  if (body.cache_control !== undefined) return { body, added: [], existing: 1 };
  const all = positions(body, options);
  const existing = all.filter((p) => p.ttl !== undefined).length;
  let slots = MAX_BREAKPOINTS - existing;
  if (slots <= 0 || all.length === 0) return { body, added: [], existing };

  // Anthropic: 1-hour entries must come before 5-minute ones.
  const last1h = all.findLastIndex((p) => p.ttl === '1h');
  const first5m = all.findIndex((p) => p.ttl === '5m');
  const allowed = (idx: number) => (options.ttl === '5m' ? idx > last1h : first5m === -1 || idx < first5m);
  const ok = (idx: number) =>
    idx >= 0 &&
    all[idx].cacheable &&
    all[idx].ttl === undefined &&
    all[idx].cumulative >= options.minTokens &&
    allowed(idx);

  const chosen = new Map<number, BreakpointPlace>();
  const take = (idx: number, place: BreakpointPlace) => {
    if (slots > 0 && ok(idx) && !chosen.has(idx)) {
      chosen.set(idx, place);
      slots--;
    }
  };
  const lastOf = (kind: Position['where']['kind']) => all.findLastIndex((p) => p.where.kind === kind);
  const lastTool = lastOf('tool');
  const lastSystem = lastOf('system');
  const messageCount = Array.isArray(body.messages) ? body.messages.length : 0;
  const messagePositions = all.flatMap((p, idx) => (p.where.kind === 'message' ? [idx] : []));

  // 1. The static head: system prompt, else tools.
  take(lastSystem !== -1 ? lastSystem : lastTool, lastSystem !== -1 ? 'system' : 'tools');
  // 2. The conversation so far (only worth a cache write when there is a history to reuse).
  if (messageCount >= 3) {
    const lastMessage = messageCount - 1;
    const inLast = messagePositions.filter((idx) => (all[idx].where as { m: number }).m === lastMessage);
    const target = inLast.findLast((idx) => all[idx].cacheable);
    if (target !== undefined) take(target, 'conversation');
  }
  // 3. Long documents, earliest first (they anchor the longest reusable prefixes).
  for (const idx of messagePositions) if (all[idx].document) take(idx, 'document');
  // 4. Tools on their own.
  if (lastSystem !== -1) take(lastTool, 'tools');

  if (chosen.size === 0) return { body, added: [], existing };
  return { body: applyMarks(body, all, chosen, options.ttl), added: [...chosen.values()], existing };
}

function applyMarks(
  body: Record<string, unknown>,
  all: Position[],
  chosen: Map<number, BreakpointPlace>,
  ttl: '5m' | '1h',
): Record<string, unknown> {
  const mark = ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' };
  const out: Record<string, unknown> = { ...body };
  let tools: Block[] | undefined;
  let system: Block[] | undefined;
  let messages: Block[] | undefined;
  const contents = new Map<number, Block[]>();
  for (const idx of chosen.keys()) {
    const w = all[idx].where;
    if (w.kind === 'tool') {
      tools ??= [...(body.tools as Block[])];
      tools[w.i] = { ...tools[w.i], cache_control: mark };
    } else if (w.kind === 'system') {
      system ??= asBlocks(body.system).slice();
      system[w.i] = { ...system[w.i], cache_control: mark };
    } else {
      messages ??= [...(body.messages as Block[])];
      let blocks = contents.get(w.m);
      if (!blocks) {
        blocks = asBlocks(messages[w.m].content).slice();
        contents.set(w.m, blocks);
      }
      blocks[w.i] = { ...blocks[w.i], cache_control: mark };
    }
  }
  if (tools) out.tools = tools;
  if (system) out.system = system;
  if (messages) {
    for (const [m, blocks] of contents) messages[m] = { ...messages[m], content: blocks };
    out.messages = messages;
  }
  return out;
}
