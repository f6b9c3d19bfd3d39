import type { z } from 'zod';
import { coreConfigSchema } from './schema.js';

/**
 * The root config: the core (server, upstreams, timeouts) plus one section per feature area,
 * each defined beside the code it configures.
 */
export const configSchema = coreConfigSchema;
export type Config = z.infer<typeof configSchema>;
export type { UpstreamConfig, UpstreamKind } from './schema.js';
