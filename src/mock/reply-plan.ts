import { BoundedMap } from './bounded-map.js';
import { chosenTool, type Conversation, wantsToolCall } from './conversation.js';
import type { Digest } from './random.js';
import { seededRandom } from './random.js';
import { composeReply } from './reply-text.js';
import { tokenPieces, tokensOf } from './tokens.js';
import { argumentsFor, valueFor } from './tool-args.js';

/** What the mock answers, before any dialect's wire format. */
export type PlannedReply = TextReply | ToolReply;

export interface TextReply {
  kind: 'text';
  text: string;
  /** The text split at token boundaries (stream chunks), and each piece JSON-encoded. */
  pieces: string[];
  piecesJson: string[];
  /** Completion tokens: gpt-tokenizer's count of `text`. */
  tokens: number;
  /** Cut by max_tokens. */
  truncated: boolean;
}

export interface ToolReply {
  kind: 'tool';
  name: string;
  input: Record<string, unknown>;
  argumentsJson: string;
  /** The arguments JSON split at token boundaries, JSON-encoded (stream fragments). */
  piecesJson: string[];
  tokens: number;
}

// Same conversation, same choice, same cap → same reply: memoise, so a benchmark repeating
// prompts pays for tokenisation once.
const plans = new BoundedMap<string, PlannedReply>(4096);

/** Mixes the choice index into the seed so `n > 1` choices differ. */
const GOLDEN = 0x9e3779b9;

export function planReply(
  conversation: Conversation,
  digest: Digest,
  choice: number,
  maxTokens: number | undefined,
): PlannedReply {
  const key = `${digest.key}|${choice}|${maxTokens ?? ''}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = makePlan(conversation, (digest.seed ^ Math.imul(choice, GOLDEN)) >>> 0, maxTokens);
    plans.set(key, plan);
  }
  return plan;
}

function makePlan(c: Conversation, seed: number, maxTokens: number | undefined): PlannedReply {
  if (wantsToolCall(c)) {
    const tool = chosenTool(c);
    const input = argumentsFor(tool.schema, c.lastUserText, seed);
    const argumentsJson = JSON.stringify(input);
    return {
      kind: 'tool',
      name: tool.name,
      input,
      argumentsJson,
      piecesJson: tokenPieces(argumentsJson).pieces.map((p) => JSON.stringify(p)),
      tokens: tokensOf(tool.name) + tokensOf(argumentsJson),
    };
  }
  const full = replyText(c, seed);
  const { pieces, total } = tokenPieces(full, maxTokens);
  const truncated = maxTokens !== undefined && total > maxTokens;
  const text = truncated ? pieces.join('') : full;
  return {
    kind: 'text',
    text,
    pieces,
    piecesJson: pieces.map((p) => JSON.stringify(p)),
    // encode(text).length is gpt-tokenizer's count; a cut text is re-counted, since
    // re-encoding a decoded prefix may merge differently at the cut.
    tokens: truncated ? tokensOf(text) : total,
    truncated,
  };
}

function replyText(c: Conversation, seed: number): string {
  const rand = seededRandom(seed);
  const question = c.endsWithToolResult ? c.lastToolResultText : c.lastUserText;
  const prose = composeReply(question, c.endsWithToolResult, rand);
  const format = c.responseFormat;
  if (format?.kind === 'json_schema') return JSON.stringify(valueFor(format.schema, c.lastUserText, seed));
  if (format?.kind === 'json_object') return JSON.stringify({ answer: prose });
  return prose;
}
