/**
 * Writes docs/configuration.md from the zod schema itself, so the reference cannot drift from
 * the code: every key with its type, default and the one-line description given to `.describe()`
 * beside it. Run: `npm run docs:config`. Keys without a description are listed on stderr.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../src/config/index.js';

type Json = { [k: string]: unknown };

function typeOf(s: Json): string {
  if (s.enum) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return (s.anyOf as Json[]).map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${typeOf((s.items as Json) ?? {})}[]`;
  if (s.type === 'object' && isMap(s)) return `map of ${typeOf(s.additionalProperties as Json)}`;
  return String(s.type ?? 'any');
}

const isMap = (s: Json): boolean =>
  !s.properties && typeof s.additionalProperties === 'object' && s.additionalProperties !== null;

const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

const undescribed: string[] = [];

function rows(schema: Json, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [key, prop] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const def = prop.default === undefined ? '' : `\`${cell(JSON.stringify(prop.default))}\``;
    const description = typeof prop.description === 'string' ? prop.description : '';
    if (!description) undescribed.push(path);
    const nested = prop.type === 'object' && prop.properties;
    out.push(
      `| \`${path}\` | ${nested ? 'object' : typeOf(prop)} | ${def.length > 120 ? '(see schema)' : def} | ${cell(description)} |`,
    );
    if (nested) rows(prop, path, out);
    const items = prop.items as Json | undefined;
    if (prop.type === 'array' && items?.properties) rows(items, `${path}[]`, out);
    const values = prop.additionalProperties as Json | undefined;
    if (isMap(prop) && values?.properties) rows(values, `${path}.<name>`, out);
  }
}

const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
const out: string[] = [];
rows(json, '', out);
const doc = `# Configuration reference

Generated from \`src/config/\` and the feature \`config.ts\` files by \`npm run docs:config\`; do not
edit by hand.

The config is YAML or JSON, given by \`--config FILE\` or \`SLUICE_CONFIG\`. Every key has a default,
so an empty file is valid. A key that is not listed here stops start-up with an error naming it
and the nearest valid key (\`cache.ttl\` is not a setting; did you mean \`cache.ttlSeconds\`?).
Environment variables override: \`PORT\`, \`HOST\`, \`SLUICE_DATA_DIR\` (\`dataDir\`), \`REDIS_URL\`
(\`redisUrl\`), \`SLUICE_LOG_LEVEL\`. With no \`upstreams\`, they come from
\`OPENAI_API_KEY\`/\`OPENAI_BASE_URL\` and \`ANTHROPIC_API_KEY\`/\`ANTHROPIC_BASE_URL\`; with neither
and no config file, the built-in simulated upstream serves (a config file without upstreams is an
error unless \`serve --simulated\` asks for the simulated upstream). \`SLUICE_ADMIN_KEY\` enables the
admin API ([admin-api.md](admin-api.md)). Provider keys never go in the file: an upstream names the
variable that holds its key (\`apiKeyEnv\`), and start-up warns when that variable is unset.

\`<name>\` in a key stands for a name you choose (a model, tier, user, team, upstream or alias).

| key | type | default | description |
|---|---|---|---|
${out.join('\n')}
`;
writeFileSync(new URL('../docs/configuration.md', import.meta.url), doc);
console.log(`wrote docs/configuration.md (${out.length} keys)`);
if (undescribed.length > 0) console.error(`keys without a description:\n  ${undescribed.join('\n  ')}`);
