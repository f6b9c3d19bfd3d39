import { prepareChat, type Json } from './chat-request.js';
import { anthropicConversation } from './conversation.js';

/*
 * Anthropic token counting: https://docs.anthropic.com/en/api/messages-count-tokens
 * The count is the prompt size the messages route bills for the same body (before any prompt
 * cache split), so a count and the call that follows it agree.
 */

export function renderCountTokens(body: Json): string {
  return JSON.stringify({ input_tokens: prepareChat(anthropicConversation(body)).promptTokens });
}
