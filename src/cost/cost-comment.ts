/**
 * A stream's cost, sent in the stream itself: its headers went before the cost was known. An
 * SSE comment line (`: x-sluice-cost-usd=0.0012`) just before the final event (OpenAI
 * `data: [DONE]`, Anthropic `message_stop`; after the last event of a Responses stream, which
 * has no separate final event). Per the SSE spec, clients ignore comment lines: the official
 * SDKs parse such a stream unchanged.
 */
import type { ParsedEvent } from '../dialect/types.js';
import { insertFinalText } from '../pipeline/reply.js';
import type { StreamReply } from '../pipeline/types.js';

export const COST_COMMENT_FIELD = 'x-sluice-cost-usd';

const isFinalEvent = (event: ParsedEvent): boolean =>
  event.data === '[DONE]' || event.event === 'message_stop';

export function appendCostComment(reply: StreamReply, cost: () => string): StreamReply {
  return insertFinalText(reply, {
    isFinal: isFinalEvent,
    text: () => `: ${COST_COMMENT_FIELD}=${cost()}\n\n`,
  });
}
