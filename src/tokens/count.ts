/**
 * Token counting for pre-flight estimates (budgets), compression and routing.
 *
 * OpenAI models are counted exactly with gpt-tokenizer (the tiktoken encodings): the right
 * encoding per model, OpenAI's chat framing (3 tokens per message, 1 per `name`, 3 to prime
 * the reply) and tool definitions rendered the way OpenAI renders them to the model. Other
 * models (Anthropic, open models) have no public tokenizer here, so they get a documented
 * estimate flagged `estimated: true`: the o200k count of the same text × `estimateFactor`
 * (default 1.2: Claude's tokenizers produce roughly 10–30 % more tokens than o200k on English
 * and code), plus 4 tokens per message and Anthropic's tool-use system prompt (346 tokens) when
 * tools are sent. Recorded usage never comes from here while the provider reports its own.
 *
 * All counting goes through bounded-count.ts, so it is linear in the text and bounded in time:
 * texts over 8,192 characters, and texts met after a call's 20 ms budget, are estimated (and
 * the count says so); see that module for the error.
 */
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { formatFunctionDefinitions } from 'gpt-tokenizer/functionCalling';
import { modelToEncodingMap } from 'gpt-tokenizer/mapping';
import { DIALECTS, type DialectSpec } from '../dialect/index.js';
import type { Dialect, RequestContext, RouteName } from '../pipeline/types.js';
import { responsesAsChatView } from '../dialect/responses/view.js';
import { CountMemo, TokenTally } from './bounded-count.js';
import { type ChatMessage, blockText, countImages, isSystemRole, messagesOf } from '../dialect/messages.js';

export interface TokenCount {
  tokens: number;
  /** True when the count is an estimate (no exact tokenizer for the model, or image sizes unknown). */
  estimated: boolean;
}

export type Encoding = 'o200k_base' | 'cl100k_base';

export const DEFAULT_ESTIMATE_FACTOR = 1.2;
/** OpenAI chat framing (see openai-cookbook "How to count tokens with tiktoken"). */
const PER_MESSAGE = 3;
const PER_NAME = 1;
const REPLY_PRIMING = 3;
const PER_TOOL_CALL = 3;
const FUNCTIONS_OVERHEAD = 9;
const SYSTEM_WITH_FUNCTIONS_DEDUCTION = 4;
/** OpenAI images: a low-detail image is 85 tokens; others are the dialect's `imageEstimateTokens`. */
const OPENAI_LOW_DETAIL_IMAGE = 85;
const ESTIMATE_PER_MESSAGE = 4;

const OPENAI_MODEL = /^(gpt-|o\d|chatgpt-|text-embedding-|ft:gpt-|davinci|babbage)/;
const CL100K_MODEL = /^(gpt-4($|-(?!o)|-\d)|gpt-3\.5|text-embedding-(3|ada))/;

const encodingCache = new Map<string, Encoding | null>();

/** The tiktoken encoding of an OpenAI model, or undefined when the model is not OpenAI's. */
export function encodingFor(model: string): Encoding | undefined {
  const cached = encodingCache.get(model);
  if (cached !== undefined) return cached ?? undefined;
  const bare = model.startsWith('openai/') ? model.slice('openai/'.length) : model;
  const mapped = (modelToEncodingMap as Record<string, string | undefined>)[bare];
  let encoding: Encoding | null = null;
  if (mapped === 'o200k_base' || mapped === 'cl100k_base') encoding = mapped;
  else if (mapped === undefined && OPENAI_MODEL.test(bare) && !bare.startsWith('gpt-oss')) {
    encoding = CL100K_MODEL.test(bare) ? 'cl100k_base' : 'o200k_base';
  }
  if (encodingCache.size > 10_000) encodingCache.clear();
  encodingCache.set(model, encoding);
  return encoding ?? undefined;
}

const memos: Record<Encoding, CountMemo> = {
  o200k_base: new CountMemo(8_000_000),
  cl100k_base: new CountMemo(2_000_000),
};
/** Special-token strings in user text are counted as plain text (and never make the tokenizer throw). */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const tokenizers: Record<Encoding, (s: string) => number> = {
  o200k_base: (s) => countO200k(s, PLAIN_TEXT),
  cl100k_base: (s) => countCl100k(s, PLAIN_TEXT),
};

/**
 * One counting call's tally (see bounded-count.ts): linear in the text, bounded in time, and
 * flagged estimated when a text was sampled or the call ran out of time.
 */
function tallyFor(encoding: Encoding): TokenTally {
  return new TokenTally(tokenizers[encoding], memos[encoding]);
}

/** Tokens in a plain text for `model` (exact for OpenAI models, estimated otherwise). */
export function countText(text: string, model: string, estimateFactor = DEFAULT_ESTIMATE_FACTOR): TokenCount {
  const encoding = encodingFor(model);
  const tally = tallyFor(encoding ?? 'o200k_base');
  const tokens = tally.count(text);
  if (encoding) return { tokens, estimated: tally.estimated };
  return { tokens: Math.ceil(tokens * estimateFactor), estimated: true };
}

/**
 * A `countText` for the many texts of one request (blocks, trim attempts): they share one
 * time budget, so a body of thousands of texts stays bounded like a single text.
 */
export function textCounter(
  model: string,
  estimateFactor = DEFAULT_ESTIMATE_FACTOR,
): (text: string) => number {
  const encoding = encodingFor(model);
  const tally = tallyFor(encoding ?? 'o200k_base');
  return encoding ? (text) => tally.count(text) : (text) => Math.ceil(tally.count(text) * estimateFactor);
}

export interface CountOptions {
  /** Model to count for; defaults to the body's `model`. */
  model?: string;
  estimateFactor?: number;
}

/** Prompt tokens of a request body of `route` (chat, messages, embeddings or legacy completions). */
export function countRequestTokens(
  dialect: Dialect,
  route: RouteName,
  body: Record<string, unknown>,
  options: CountOptions = {},
): TokenCount {
  if (route === 'embeddings') return countEmbeddingInput(body, options);
  // A legacy completions prompt takes the shapes of an embeddings input (text, texts, token ids),
  // with no chat framing around it.
  if (route === 'completions') return countEmbeddingInput({ model: body.model, input: body.prompt }, options);
  // The Responses API's instructions and input items say what chat messages say.
  if (route === 'responses') return countChatTokens('openai', responsesAsChatView(body), options);
  return countChatTokens(dialect, body, options);
}

/** Prompt tokens of a chat request (OpenAI chat completions or Anthropic messages). */
export function countChatTokens(
  dialect: Dialect,
  body: Record<string, unknown>,
  options: CountOptions = {},
): TokenCount {
  const model = options.model ?? (typeof body.model === 'string' ? body.model : '');
  const spec = DIALECTS[dialect];
  const encoding = spec.tokenCounting.tokenizer === 'tiktoken-by-model' ? encodingFor(model) : undefined;
  if (encoding) return countOpenAIExact(body, encoding, spec.tokenCounting.imageEstimateTokens);
  return estimateChat(spec, body, options.estimateFactor ?? DEFAULT_ESTIMATE_FACTOR);
}

function countOpenAIExact(
  body: Record<string, unknown>,
  encoding: Encoding,
  imageTokens: number,
): TokenCount {
  const tally = tallyFor(encoding);
  const count = (s: string) => tally.count(s);
  const functions = openAIFunctions(body);
  const hasFunctions = functions.length > 0;
  let estimated = false;
  let total = REPLY_PRIMING;
  let systemPadded = false;
  for (const m of messagesOf(body)) {
    let text = openAIMessageText(m);
    // OpenAI appends a newline to the first system message when functions are defined.
    if (hasFunctions && !systemPadded && m.role === 'system') {
      systemPadded = true;
      if (text && !text.endsWith('\n')) text += '\n';
    }
    total += PER_MESSAGE + count(String(m.role ?? '')) + count(text);
    if (typeof m.name === 'string') total += count(m.name) + PER_NAME;
    if (m.role === 'function') total -= 2;
    for (const call of toolCallsOf(m)) total += count(call.name) + count(call.arguments) + PER_TOOL_CALL;
    const { images, lowDetail } = countImages(m.content);
    if (images > 0) {
      total += lowDetail * OPENAI_LOW_DETAIL_IMAGE + (images - lowDetail) * imageTokens;
      if (images > lowDetail) estimated = true;
    }
    if (hasNonTextParts(m.content)) estimated = true;
  }
  if (hasFunctions) {
    // Function definitions are shown to the model as a TypeScript namespace; parameters the
    // renderer does not know (nested anyOf, $ref) make this approximate, as OpenAI documents.
    total += count(formatFunctionDefinitions(functions as never)) + FUNCTIONS_OVERHEAD;
    if (messagesOf(body).some((m) => m.role === 'system')) total -= SYSTEM_WITH_FUNCTIONS_DEDUCTION;
  }
  const choice = body.tool_choice ?? body.function_call;
  if (choice === 'none') total += 1;
  else if (choice && typeof choice === 'object') {
    const name =
      (choice as { function?: { name?: string }; name?: string }).function?.name ??
      (choice as { name?: string }).name;
    if (name) total += count(name) + 4;
  }
  return { tokens: total, estimated: estimated || tally.estimated };
}

function openAIMessageText(m: ChatMessage): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  let out = '';
  for (const part of c as Array<Record<string, unknown>>) {
    const t = part?.type === 'text' ? part.text : part?.type === 'refusal' ? part.refusal : undefined;
    if (typeof t === 'string') out += t;
  }
  return out;
}

function hasNonTextParts(content: unknown): boolean {
  if (!Array.isArray(content)) return false;
  return (content as Array<{ type?: unknown }>).some(
    (p) => p?.type !== 'text' && p?.type !== 'refusal' && p?.type !== 'image_url',
  );
}

function toolCallsOf(m: ChatMessage): Array<{ name: string; arguments: string }> {
  const out: Array<{ name: string; arguments: string }> = [];
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls as Array<{ function?: { name?: unknown; arguments?: unknown } }>) {
      const f = call?.function;
      if (f) out.push({ name: String(f.name ?? ''), arguments: String(f.arguments ?? '') });
    }
  }
  const legacy = m.function_call as { name?: unknown; arguments?: unknown } | undefined;
  if (legacy && typeof legacy === 'object')
    out.push({ name: String(legacy.name ?? ''), arguments: String(legacy.arguments ?? '') });
  return out;
}

/** OpenAI `tools` (type function) and legacy `functions`, as function definitions. */
function openAIFunctions(body: Record<string, unknown>): unknown[] {
  const out: unknown[] = [];
  if (Array.isArray(body.tools)) {
    for (const t of body.tools as Array<{ type?: string; function?: unknown }>) {
      if (t?.type === 'function' && t.function) out.push(t.function);
    }
  }
  if (Array.isArray(body.functions)) out.push(...body.functions);
  return out;
}

function estimateChat(spec: DialectSpec, body: Record<string, unknown>, factor: number): TokenCount {
  const tally = tallyFor('o200k_base');
  const count = (s: string) => tally.count(s);
  const { imageEstimateTokens, toolsSystemPromptTokens } = spec.tokenCounting;
  let text = 0;
  let fixed = 0;
  // A system prompt in messages is counted with them; one in its own field is counted like one more message.
  const placement = spec.systemPrompt;
  const system = placement.in === 'field' ? body[placement.field] : undefined;
  if (system !== undefined) {
    text += count(typeof system === 'string' ? system : blocksText(system));
    fixed += ESTIMATE_PER_MESSAGE;
  }
  for (const m of messagesOf(body)) {
    fixed += ESTIMATE_PER_MESSAGE;
    text += count(typeof m.content === 'string' ? m.content : blocksText(m.content));
    for (const call of toolCallsOf(m)) text += count(call.name) + count(call.arguments);
    fixed += countImages(m.content).images * imageEstimateTokens;
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    text += count(JSON.stringify(body.tools));
    fixed += toolsSystemPromptTokens;
  }
  return { tokens: Math.ceil(text * factor) + fixed, estimated: true };
}

function blocksText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const block of content) {
    const t = blockText(block);
    if (t) out = out ? `${out}\n${t}` : t;
  }
  return out;
}

function countEmbeddingInput(body: Record<string, unknown>, options: CountOptions): TokenCount {
  const model = options.model ?? (typeof body.model === 'string' ? body.model : '');
  const input = body.input;
  const items: unknown[] =
    Array.isArray(input) && !input.every((x) => typeof x === 'number') ? input : [input];
  const encoding = encodingFor(model);
  const factor = options.estimateFactor ?? DEFAULT_ESTIMATE_FACTOR;
  // One tally for all items: a batch of thousands of inputs shares one time budget.
  const tally = tallyFor(encoding ?? 'o200k_base');
  let tokens = 0;
  let estimated = false;
  for (const item of items) {
    if (typeof item === 'string') {
      const n = tally.count(item);
      tokens += encoding ? n : Math.ceil(n * factor);
      estimated ||= !encoding;
    } else if (Array.isArray(item)) tokens += item.length;
  }
  return { tokens, estimated: estimated || tally.estimated };
}

/** A prompt's count and the body parts it was counted from (`ctx.promptCount`). */
export interface PromptCountMemo {
  messages: unknown;
  instructions: unknown;
  system: unknown;
  tools: unknown;
  input: unknown;
  model: string;
  result: TokenCount;
}

/**
 * Prompt tokens of the request as it stands now, counted for `model` (default: ctx.model).
 * Remembered on the context so budget, compression and routing count once; a stage that
 * replaces `messages`, `system`, `tools` or `input` gets a fresh count.
 */
export function promptTokens(
  ctx: RequestContext,
  model: string = ctx.model,
  estimateFactor?: number,
): TokenCount {
  const { body } = ctx;
  const memo = ctx.promptCount;
  if (
    memo &&
    memo.model === model &&
    memo.messages === body.messages &&
    memo.instructions === body.instructions &&
    memo.system === body.system &&
    memo.tools === body.tools &&
    memo.input === body.input
  ) {
    return memo.result;
  }
  const result = countRequestTokens(ctx.dialect, ctx.route, body, { model, estimateFactor });
  ctx.promptCount = {
    messages: body.messages,
    instructions: body.instructions,
    system: body.system,
    tools: body.tools,
    input: body.input,
    model,
    result,
  };
  return result;
}

export const isSystemMessage = (m: ChatMessage): boolean => isSystemRole(m.role);
