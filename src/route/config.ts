import { z } from 'zod';
import { DEFAULT_CHEAP_EXEMPLARS, DEFAULT_STRONG_EXEMPLARS } from './exemplars.js';

/**
 * Model routing by complexity. Mounted by the root config under the key `routing`; `{}` parses.
 * Requests whose `model` is an alias (default: `auto`) go to the alias's cheap or strong model,
 * decided by the first matching rule (all conditions of a rule must hold). An explicit model is
 * never changed.
 */

const conditionSchema = z
  .strictObject({
    pattern: z
      .string()
      .optional()
      .describe('Regular expression (case-insensitive) tested on the last user message, trimmed.'),
    keywords: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Keywords searched in the last user message (case-insensitive; an ASCII keyword must start a word).',
      ),
    minKeywordHits: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe('How many distinct keywords must appear (with `keywords`).'),
    minChars: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Last user message at least this many characters.'),
    maxChars: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Last user message at most this many characters.'),
    minContextTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Prompt tokens of the whole request (system, history, tools).'),
    maxContextTokens: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Prompt tokens of the whole request at most this many.'),
    hasTools: z.boolean().optional().describe('The request defines tools.'),
  })
  .refine(
    (c) =>
      c.pattern !== undefined ||
      c.keywords !== undefined ||
      c.minChars !== undefined ||
      c.maxChars !== undefined ||
      c.minContextTokens !== undefined ||
      c.maxContextTokens !== undefined ||
      c.hasTools !== undefined,
    { message: 'a rule needs at least one condition' },
  );

export const routingRuleSchema = z.strictObject({
  name: z.string().min(1).describe('Rule name, reported in the `x-sluice-route` header.'),
  use: z.enum(['cheap', 'strong']).describe("Which of the alias's models a match picks."),
  when: conditionSchema.describe('Conditions; all must hold.'),
});
export type RoutingRule = z.infer<typeof routingRuleSchema>;

const COMPLEX_SIGNALS = [
  // The seed's signals …
  '代码',
  '分析',
  '设计',
  '架构',
  '推理',
  '证明',
  '比较',
  '评估',
  '优化',
  'debug',
  '为什么',
  // … and their English counterparts.
  'code',
  'analy',
  'design',
  'architect',
  'reason',
  'prove',
  'proof',
  'compare',
  'evaluat',
  'optimi',
  'why',
  'trade-off',
  'step by step',
];

/** The seed's signals as rules: strong for long or complex requests, cheap for greetings, yes/no, arithmetic, short translations. */
export const SEED_RULES: z.input<typeof routingRuleSchema>[] = [
  { name: 'long-context', use: 'strong', when: { minContextTokens: 8000 } },
  { name: 'long-message', use: 'strong', when: { minChars: 1000 } },
  {
    name: 'code-or-proof',
    use: 'strong',
    when: {
      keywords: [
        '```',
        'code',
        'debug',
        'stack trace',
        'algorithm',
        'refactor',
        'prove',
        'proof',
        '代码',
        '算法',
        '证明',
      ],
    },
  },
  { name: 'complex-signals', use: 'strong', when: { keywords: COMPLEX_SIGNALS, minKeywordHits: 2 } },
  {
    name: 'greeting',
    use: 'cheap',
    when: { pattern: '^(你好|您好|hello|hi|hey|谢谢|感谢|thanks|thank you)(?![a-z])', maxChars: 200 },
  },
  {
    name: 'yes-no',
    use: 'cheap',
    when: { pattern: '^(是|否|对|不对|好的|好|yes|no|ok|okay|sure)(?![a-z]).{0,5}$' },
  },
  {
    name: 'arithmetic',
    use: 'cheap',
    when: {
      pattern: "^(what is|what's|calculate|compute|计算)?\\s*-?\\d+(\\.\\d+)?\\s*[-+*/×÷^%]\\s*-?\\d",
      maxChars: 100,
    },
  },
  { name: 'short-translation', use: 'cheap', when: { pattern: '^(翻译|translate)(?![a-z])', maxChars: 120 } },
];

const exemplarList = z.array(z.string().min(1).max(2000)).min(1).max(1000);

export const semanticRoutingSchema = z
  .strictObject({
    exemplars: z
      .strictObject({
        cheap: exemplarList
          .prefault([...DEFAULT_CHEAP_EXEMPLARS])
          .describe(
            'Prompts the cheap model answers well (default: shipped examples, src/route/exemplars.ts).',
          ),
        strong: exemplarList
          .prefault([...DEFAULT_STRONG_EXEMPLARS])
          .describe('Prompts that need the strong model (default: shipped examples).'),
      })
      .prefault({})
      .describe('Example prompts per tier; a prompt goes to the tier it is closer to in meaning.'),
    topK: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe('Similarity to a tier is the mean cosine to its this many nearest exemplars.'),
    threshold: z
      .number()
      .min(-2)
      .max(2)
      .default(0)
      .describe(
        'Strong when (similarity to strong exemplars) - (similarity to cheap ones) is above this; raise it to send fewer prompts to the strong model.',
      ),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe(
        'Longest wait for the prompt embedding (the embedder takes seconds to start); past it the alias default is used (rule=semantic-timeout).',
      ),
  })
  .prefault({});
export type SemanticRoutingConfig = z.infer<typeof semanticRoutingSchema>;

export const routingAliasSchema = z.strictObject({
  cheap: z.string().min(1).describe('Model for simple requests.'),
  strong: z.string().min(1).describe('Model for complex requests.'),
  default: z
    .enum(['cheap', 'strong'])
    .default('cheap')
    .describe('Used when no rule matches (and, in semantic mode, when the embedder cannot answer in time).'),
  mode: z
    .enum(['rules', 'semantic'])
    .default('rules')
    .describe(
      '`rules`: the first matching rule decides, else `default`. `semantic`: rules still decide when one matches (overrides); otherwise the prompt is embedded offline (USE-lite in a worker thread, ~480 MB resident, started only when some alias uses this mode) and compared with `semantic.exemplars`.',
    ),
  semantic: semanticRoutingSchema.describe('Settings of `mode: semantic`.'),
  rules: z
    .array(routingRuleSchema)
    .prefault(SEED_RULES)
    .describe('Ordered rules; the first match decides (default: the built-in rules).'),
});
export type RoutingAlias = z.infer<typeof routingAliasSchema>;

export const routingConfigSchema = z
  .strictObject({
    aliases: z
      .record(z.string().min(1), routingAliasSchema)
      .describe('Model names that route by complexity (a request with `model: auto` by default).')
      .prefault({
        auto: { cheap: 'gpt-4o-mini', strong: 'gpt-4o' },
      }),
  })
  .prefault({});

export type RoutingConfig = z.infer<typeof routingConfigSchema>;
