/**
 * Writes docs/configuration.md from the zod schema itself, so the reference cannot drift from
 * the code: every key with its type and default. Run: `npm run docs:config`.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../src/config/index.js';

type Json = { [k: string]: unknown };

function typeOf(s: Json): string {
  if (s.enum) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return (s.anyOf as Json[]).map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${typeOf((s.items as Json) ?? {})}[]`;
  if (
    s.type === 'object' &&
    s.additionalProperties &&
    typeof s.additionalProperties === 'object' &&
    !s.properties
  )
    return `map of ${typeOf(s.additionalProperties as Json)}`;
  return String(s.type ?? 'any');
}

function rows(schema: Json, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  for (const [key, prop] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const def =
      prop.default === undefined ? '' : `\`${JSON.stringify(prop.default)}\``.replaceAll('|', '\\|');
    const nested = prop.type === 'object' && prop.properties;
    if (nested) rows(prop, path, out);
    else out.push(`| \`${path}\` | ${typeOf(prop)} | ${def.length > 120 ? '(see schema)' : def} |`);
    if (prop.type === 'array' && (prop.items as Json | undefined)?.properties)
      rows(prop.items as Json, `${path}[]`, out);
  }
}

const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
const out: string[] = [];
rows(json, '', out);
const doc = `# Configuration reference

Generated from \`src/config/\` by \`npm run docs:config\`; do not edit by hand.

The config is YAML or JSON, given by \`--config FILE\` or \`SLUICE_CONFIG\`. Every key has a default,
so an empty file is valid. Environment variables override: \`PORT\`, \`HOST\`, \`SLUICE_DATA_DIR\`
(\`dataDir\`), \`REDIS_URL\` (\`redisUrl\`), \`SLUICE_LOG_LEVEL\`. With no \`upstreams\`, they come from
\`OPENAI_API_KEY\`/\`OPENAI_BASE_URL\` and \`ANTHROPIC_API_KEY\`/\`ANTHROPIC_BASE_URL\`; with neither,
the built-in simulated upstream serves. \`SLUICE_ADMIN_KEY\` enables the admin API.
Provider keys never go in the file: an upstream names the variable that holds its key (\`apiKeyEnv\`).

| key | type | default |
|---|---|---|
${out.join('\n')}
`;
writeFileSync(new URL('../docs/configuration.md', import.meta.url), doc);
console.log(`wrote docs/configuration.md (${out.length} keys)`);
