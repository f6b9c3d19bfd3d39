import { z } from 'zod';

/**
 * Callers: virtual API keys and, without keys, callers named by the request. Mounted by the
 * root config under the key `auth`; `{}` parses. Keys are created through the admin API / CLI
 * (stored hashed); `keys` here declares extra ones by hash for deployments that issue keys
 * elsewhere.
 */

const limits = {
  dailyUsd: z.number().nonnegative().optional().describe('Budget of this key per UTC day, in USD.'),
  monthlyUsd: z
    .number()
    .nonnegative()
    .optional()
    .describe('Budget of this key per UTC calendar month, in USD.'),
};

export const configKeySchema = z.strictObject({
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256')
    .describe('SHA-256 of the key, hex (`printf %s "$KEY" | sha256sum`).'),
  user: z.string().min(1).describe('User the key belongs to (ledger, budgets, cache scope).'),
  team: z.string().min(1).optional().describe('Team of the key (team budgets and cache scope).'),
  tier: z
    .string()
    .min(1)
    .optional()
    .describe('Tier of the key (tier budgets, rate limits, priority); default `auth.defaultKeyTier`.'),
  name: z.string().optional().describe('Label shown in key listings.'),
  ...limits,
  compress: z
    .boolean()
    .optional()
    .describe('History compression for this key, overriding `tokens.compression.enabled`.'),
});
export type ConfigKey = z.infer<typeof configKeySchema>;

/**
 * When a request must present a virtual key. `auto`: once any key exists (created through the
 * admin API or declared in `keys`); a revoked key still counts, so revoking the last key never
 * opens the gateway to anonymous callers. `always`: from the start, even before a key exists.
 * `never`: anonymous callers are let in; a valid key still identifies its caller.
 */
export const authRequiredSchema = z.enum(['auto', 'always', 'never']);
export type AuthRequired = z.infer<typeof authRequiredSchema>;

export const authConfigSchema = z
  .strictObject({
    required: authRequiredSchema
      .default('auto')
      .describe(
        'When requests must present a virtual key: `auto` = once any key exists (revoked keys count, so revoking the last key does not open the gateway); `always`; `never` (anonymous callers allowed, a valid key still identifies its caller).',
      ),
    keys: z
      .array(configKeySchema)
      .default([])
      .describe('Keys issued elsewhere, declared by hash (they cannot be revoked through the admin API).'),
    users: z
      .record(
        z.string(),
        z.strictObject({
          team: z.string().min(1).optional().describe('Team of this user.'),
          tier: z.string().min(1).optional().describe('Tier of this user.'),
        }),
      )
      .default({})
      .describe(
        "Without keys: team and tier of callers by user name (from x-sluice-user or the body's user).",
      ),
    defaultTier: z
      .string()
      .min(1)
      .optional()
      .describe('Tier of callers that have none. Unset: such callers have no tier budget.'),
    defaultKeyTier: z.string().min(1).default('free').describe('Tier of keys created without one.'),
    cacheSeconds: z
      .number()
      .nonnegative()
      .default(5)
      .describe(
        'How long a resolved key is remembered in process; a revoke made on another instance takes up to this long.',
      ),
  })
  .prefault({});

export type AuthConfig = z.infer<typeof authConfigSchema>;
