import { z } from 'zod';

/**
 * Callers: virtual API keys and, without keys, callers named by the request. Mounted by the
 * root config under the key `auth`; `{}` parses. Keys are created through the admin API / CLI
 * (stored hashed); `keys` here declares extra ones by hash for deployments that issue keys
 * elsewhere.
 */

const limits = {
  dailyUsd: z.number().nonnegative().optional(),
  monthlyUsd: z.number().nonnegative().optional(),
};

export const configKeySchema = z.object({
  /** SHA-256 of the key, hex (`printf %s "$KEY" | sha256sum`). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256'),
  user: z.string().min(1),
  team: z.string().min(1).optional(),
  tier: z.string().min(1).optional(),
  name: z.string().optional(),
  ...limits,
  compress: z.boolean().optional(),
});
export type ConfigKey = z.infer<typeof configKeySchema>;

export const authConfigSchema = z
  .object({
    keys: z.array(configKeySchema).default([]),
    /** Without keys: team and tier of callers by user name (from x-sluice-user or the body's user). */
    users: z
      .record(
        z.string(),
        z.object({ team: z.string().min(1).optional(), tier: z.string().min(1).optional() }),
      )
      .default({}),
    /** Tier of callers that have none. Unset: such callers have no tier budget. */
    defaultTier: z.string().min(1).optional(),
    /** Tier of keys created without one. */
    defaultKeyTier: z.string().min(1).default('free'),
    /** How long a resolved key is remembered in process; a revoke made on another instance takes up to this long. */
    cacheSeconds: z.number().nonnegative().default(5),
  })
  .prefault({});

export type AuthConfig = z.infer<typeof authConfigSchema>;
