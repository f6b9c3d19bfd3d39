/**
 * Every top-level request field of both SDKs, decided for translation. `satisfies` over the
 * field unions of `dialect/request-fields.ts` (themselves checked against the official SDKs'
 * request types in test/cache-key.test.ts) makes an undecided field a compile error.
 *  - `mapped`: the converter carries it over (see chat-to-messages.ts / messages-to-chat.ts).
 *  - `ignored`: it cannot change the answer, so leaving it out loses nothing (reason given).
 *  - `refused`: the target cannot honour it: a 400 naming it, unless its value is a no-op.
 * A field in neither table (a provider extension) is refused: its meaning is unknown.
 */
import type { AnthropicMessagesField, OpenAIChatField } from '../request-fields.js';
import { type Json, untranslatable, type WireDialect } from './json.js';

export type FieldRule =
  | { mapped: true }
  | { ignored: string }
  | { refused: string; noOp?: (value: unknown) => boolean };

const mapped = { mapped: true } as const;
const isZero = (v: unknown) => v === 0;
const isFalse = (v: unknown) => v === false;

export const OPENAI_CHAT_TO_MESSAGES = {
  messages: mapped,
  model: mapped,
  max_completion_tokens: mapped,
  max_tokens: mapped,
  parallel_tool_calls: mapped,
  reasoning_effort: mapped,
  response_format: mapped,
  safety_identifier: mapped,
  stop: mapped,
  stream: mapped,
  stream_options: mapped,
  temperature: mapped,
  tool_choice: mapped,
  tools: mapped,
  top_p: mapped,
  user: mapped,
  service_tier: {
    refused: 'Anthropic has no flex, scale or priority tier',
    noOp: (v) => v === 'auto' || v === 'default',
  },
  metadata: { ignored: 'tags for OpenAI stored completions, which need store: true' },
  prompt_cache_key: { ignored: "a routing hint for OpenAI's prompt cache" },
  prompt_cache_options: { ignored: "OpenAI's prompt cache options" },
  prompt_cache_retention: { ignored: "OpenAI's prompt cache retention" },
  audio: { refused: 'Anthropic models do not answer with audio' },
  frequency_penalty: { refused: 'Anthropic has no frequency penalty', noOp: isZero },
  presence_penalty: { refused: 'Anthropic has no presence penalty', noOp: isZero },
  function_call: { refused: 'deprecated by OpenAI; send tool_choice' },
  functions: { refused: 'deprecated by OpenAI; send tools' },
  logit_bias: {
    refused: 'Anthropic has no logit bias',
    noOp: (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0,
  },
  logprobs: { refused: 'Anthropic returns no log probabilities', noOp: isFalse },
  top_logprobs: { refused: 'Anthropic returns no log probabilities', noOp: isZero },
  modalities: {
    refused: 'Anthropic models answer with text only',
    noOp: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
  },
  moderation: { refused: 'Anthropic has no moderation option' },
  n: { refused: 'Anthropic returns one answer per request; send n requests', noOp: (v) => v === 1 },
  prediction: { refused: 'Anthropic has no predicted outputs' },
  seed: { refused: 'Anthropic has no seed' },
  store: { refused: 'Anthropic does not store completions', noOp: isFalse },
  verbosity: { refused: 'Anthropic has no verbosity setting' },
  web_search_options: { refused: "OpenAI's web search is not an Anthropic option" },
} as const satisfies Record<OpenAIChatField, FieldRule>;

export const ANTHROPIC_MESSAGES_TO_CHAT = {
  max_tokens: mapped,
  messages: mapped,
  model: mapped,
  metadata: mapped,
  output_config: mapped,
  service_tier: mapped,
  stop_sequences: mapped,
  stream: mapped,
  system: mapped,
  temperature: mapped,
  thinking: mapped,
  tool_choice: mapped,
  tools: mapped,
  top_p: mapped,
  cache_control: { ignored: 'OpenAI caches prompt prefixes on its own' },
  diagnostics: { ignored: "Anthropic's prompt-cache diagnostics" },
  user_profile_id: { ignored: 'an Anthropic header parameter (attribution)' },
  workspace_id: { ignored: 'an Anthropic header parameter (workspace routing)' },
  container: { refused: 'OpenAI has no Anthropic code-execution container' },
  context_management: { refused: 'OpenAI has no Anthropic context management' },
  inference_geo: { refused: 'the OpenAI upstream decides where it serves the request' },
  mcp_servers: { refused: 'OpenAI chat completions take no MCP servers' },
  speed: { refused: 'OpenAI has no fast mode', noOp: (v) => v === 'standard' },
  top_k: { refused: 'OpenAI has no top_k' },
} as const satisfies Record<AnthropicMessagesField, FieldRule>;

/**
 * Refuse every field of `body` the target cannot honour; `null` counts as absent, as both
 * providers treat it. Returns nothing: the converters read the mapped fields themselves.
 */
export function checkFields(
  body: Json,
  rules: Readonly<Record<string, FieldRule>>,
  target: WireDialect,
): void {
  for (const field of Object.keys(body)) {
    const value = body[field];
    if (value === null || value === undefined) continue;
    const rule = Object.hasOwn(rules, field) ? rules[field] : undefined;
    if (!rule) throw untranslatable(target, field, 'a parameter the translation does not know');
    if ('refused' in rule && !rule.noOp?.(value)) throw untranslatable(target, field, rule.refused);
  }
}
