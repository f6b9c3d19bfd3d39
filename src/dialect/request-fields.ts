/**
 * Which request fields go into the exact-cache key. Every field a client may send is decided
 * here: `true` = it can change the answer, so it is part of the key; `false` = it cannot, so
 * requests differing only in it share an entry. The `satisfies` tables make an undecided
 * field a compile error (STYLE §5); `test/cache-key.test.ts` checks the unions against the
 * official SDKs' request types. A field in no table (a provider extension) is keyed: when in
 * doubt, miss rather than serve a wrong answer.
 */

export type OpenAIChatField =
  | 'messages'
  | 'model'
  | 'audio'
  | 'frequency_penalty'
  | 'function_call'
  | 'functions'
  | 'logit_bias'
  | 'logprobs'
  | 'max_completion_tokens'
  | 'max_tokens'
  | 'metadata'
  | 'modalities'
  | 'moderation'
  | 'n'
  | 'parallel_tool_calls'
  | 'prediction'
  | 'presence_penalty'
  | 'prompt_cache_key'
  | 'prompt_cache_options'
  | 'prompt_cache_retention'
  | 'reasoning_effort'
  | 'response_format'
  | 'safety_identifier'
  | 'seed'
  | 'service_tier'
  | 'stop'
  | 'store'
  | 'stream'
  | 'stream_options'
  | 'temperature'
  | 'tool_choice'
  | 'tools'
  | 'top_logprobs'
  | 'top_p'
  | 'user'
  | 'verbosity'
  | 'web_search_options';

export const OPENAI_CHAT_KEYED = {
  messages: true,
  model: true,
  audio: true,
  frequency_penalty: true,
  function_call: true,
  functions: true,
  logit_bias: true,
  logprobs: true,
  max_completion_tokens: true,
  max_tokens: true,
  modalities: true,
  moderation: true,
  n: true,
  parallel_tool_calls: true,
  prediction: true,
  presence_penalty: true,
  reasoning_effort: true,
  response_format: true,
  seed: true,
  stop: true,
  temperature: true,
  tool_choice: true,
  tools: true,
  top_logprobs: true,
  top_p: true,
  verbosity: true,
  web_search_options: true,
  /** Tags for OpenAI's stored completions; not seen by the model. */
  metadata: false,
  /** Routing hints for the provider's own prompt cache. */
  prompt_cache_key: false,
  prompt_cache_options: false,
  prompt_cache_retention: false,
  /** Abuse-monitoring identifiers. */
  safety_identifier: false,
  user: false,
  /** Latency/price tier, not content. */
  service_tier: false,
  /** Whether OpenAI keeps the completion. */
  store: false,
  /** One entry serves both modes: JSON is replayed as SSE and the other way round. */
  stream: false,
  /** Only the SSE framing (`include_usage`), which the replay honours. */
  stream_options: false,
} as const satisfies Record<OpenAIChatField, boolean>;

export type AnthropicMessagesField =
  | 'max_tokens'
  | 'messages'
  | 'model'
  | 'cache_control'
  | 'container'
  | 'context_management'
  | 'diagnostics'
  | 'inference_geo'
  | 'mcp_servers'
  | 'metadata'
  | 'output_config'
  | 'service_tier'
  | 'speed'
  | 'stop_sequences'
  | 'stream'
  | 'system'
  | 'temperature'
  | 'thinking'
  | 'tool_choice'
  | 'tools'
  | 'top_k'
  | 'top_p'
  | 'user_profile_id'
  | 'workspace_id';

export const ANTHROPIC_MESSAGES_KEYED = {
  max_tokens: true,
  messages: true,
  model: true,
  /** Code-execution state the answer may depend on. */
  container: true,
  context_management: true,
  mcp_servers: true,
  output_config: true,
  /** A different serving mode; kept apart to be safe. */
  speed: true,
  stop_sequences: true,
  system: true,
  temperature: true,
  thinking: true,
  tool_choice: true,
  tools: true,
  top_k: true,
  top_p: true,
  /** Provider prompt-cache breakpoint; the answer is the same with or without it. */
  cache_control: false,
  diagnostics: false,
  /** Where the request is served (data residency), not what it says. */
  inference_geo: false,
  /** `user_id` for abuse monitoring; the cache scope handles identity. */
  metadata: false,
  service_tier: false,
  stream: false,
  user_profile_id: false,
  workspace_id: false,
} as const satisfies Record<AnthropicMessagesField, boolean>;

export type OpenAIEmbeddingsField = 'input' | 'model' | 'dimensions' | 'encoding_format' | 'user';

export const OPENAI_EMBEDDINGS_KEYED = {
  input: true,
  model: true,
  dimensions: true,
  encoding_format: true,
  user: false,
} as const satisfies Record<OpenAIEmbeddingsField, boolean>;

export type OpenAIResponsesField =
  | 'background'
  | 'context_management'
  | 'conversation'
  | 'include'
  | 'input'
  | 'instructions'
  | 'max_output_tokens'
  | 'metadata'
  | 'model'
  | 'moderation'
  | 'parallel_tool_calls'
  | 'previous_response_id'
  | 'prompt'
  | 'prompt_cache_key'
  | 'prompt_cache_options'
  | 'prompt_cache_retention'
  | 'reasoning'
  | 'safety_identifier'
  | 'service_tier'
  | 'store'
  | 'stream'
  | 'stream_options'
  | 'temperature'
  | 'text'
  | 'tool_choice'
  | 'tools'
  | 'top_logprobs'
  | 'top_p'
  | 'truncation'
  | 'user';

/**
 * The Responses API (`POST /v1/responses`). Stateful requests (`previous_response_id`,
 * `conversation`, `prompt`, `background`, `store: true`) are never cached (policy.ts); their
 * fields are keyed all the same, should that ever change.
 */
export const OPENAI_RESPONSES_KEYED = {
  background: true,
  context_management: true,
  conversation: true,
  include: true,
  input: true,
  instructions: true,
  max_output_tokens: true,
  model: true,
  moderation: true,
  parallel_tool_calls: true,
  previous_response_id: true,
  prompt: true,
  reasoning: true,
  temperature: true,
  text: true,
  tool_choice: true,
  tools: true,
  top_logprobs: true,
  top_p: true,
  truncation: true,
  /** Tags on the stored response; not seen by the model. */
  metadata: false,
  /** Routing hints for the provider's own prompt cache. */
  prompt_cache_key: false,
  prompt_cache_options: false,
  prompt_cache_retention: false,
  /** Abuse-monitoring identifiers. */
  safety_identifier: false,
  user: false,
  service_tier: false,
  /** `store: false` (the only value a cacheable request has) does not change the answer. */
  store: false,
  /** One entry serves both modes: JSON is replayed as typed events and the other way round. */
  stream: false,
  /** `include_obfuscation` pads deltas; the replay sends none. */
  stream_options: false,
} as const satisfies Record<OpenAIResponsesField, boolean>;
