import { z } from 'zod';

export const translationConfigSchema = z.strictObject({
  defaultMaxTokens: z
    .number()
    .int()
    .min(1)
    .default(4096)
    .describe(
      'max_tokens sent to an Anthropic model when an OpenAI-dialect client set neither max_tokens nor max_completion_tokens (Anthropic requires it). A reasoning_effort adds its thinking budget on top.',
    ),
});
export type TranslationConfig = z.infer<typeof translationConfigSchema>;
