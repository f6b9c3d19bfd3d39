/** Model ids the mock lists at GET /v1/models (it answers any model name it is asked for). */
export const MOCK_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'o4-mini',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'claude-sonnet-4-5',
  'claude-haiku-4-5',
  'claude-opus-4-1',
] as const;

const CREATED = 1_700_000_000;

/** OpenAI's list shape. */
export const openAIModelsBody = JSON.stringify({
  object: 'list',
  data: MOCK_MODELS.map((id) => ({
    id,
    object: 'model',
    created: CREATED,
    owned_by: id.startsWith('claude') ? 'anthropic' : 'openai',
  })),
});

/** Anthropic's list shape (chosen when the request carries `anthropic-version`). */
export const anthropicModelsBody = JSON.stringify({
  data: MOCK_MODELS.filter((id) => id.startsWith('claude')).map((id) => ({
    type: 'model',
    id,
    display_name: id,
    created_at: new Date(CREATED * 1000).toISOString(),
  })),
  has_more: false,
  first_id: 'claude-sonnet-4-5',
  last_id: 'claude-opus-4-1',
});
