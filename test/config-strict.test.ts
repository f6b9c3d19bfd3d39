import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { startSluice } from '../src/app.js';
import { configSchema } from '../src/config/index.js';
import { nearestKey } from '../src/config/issues.js';
import { ConfigError, loadConfig, validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { cleanEnv, runCli, spawnCli, stderrUntil } from './cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-strict-'));
function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The file from issue 9: `upstream` for `upstreams`, `enable` for `enabled`, `ttl` for `ttlSeconds`. */
const ISSUE_FILE = `upstream:
  - name: openai
    kind: openai
    baseUrl: https://api.openai.com/v1
    apiKeyEnv: OPENAI_API_KEY
semantic: {enable: true}
cache: {ttl: 10}
`;

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e.message;
  }
  assert.fail('expected the config to be refused');
}

describe('config mistakes stop start-up', () => {
  it("names each unknown key of the issue's file and the key that was meant", () => {
    const message = configError(() => loadConfig({ file: configFile('issue.yaml', ISSUE_FILE), env: {} }));
    assert.match(message, /`upstream` is not a setting; did you mean `upstreams`\?/);
    assert.match(message, /`semantic\.enable` is not a setting; did you mean `semantic\.enabled`\?/);
    assert.match(message, /`cache\.ttl` is not a setting; did you mean `cache\.ttlSeconds`\?/);
    assert.doesNotMatch(message, /simulated/);
  });

  it('`sluice serve --config` with that file exits 1 with the three lines, never on the simulated upstream', async () => {
    const file = configFile('issue-cli.yaml', ISSUE_FILE);
    const run = await runCli(['serve', '--config', file, '--port', '0']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /did you mean `upstreams`\?/);
    assert.match(run.stderr, /did you mean `semantic\.enabled`\?/);
    assert.match(run.stderr, /did you mean `cache\.ttlSeconds`\?/);
    assert.doesNotMatch(run.stderr, /SIMULATED|listening|\n\s+at /);
  });

  it('finds keys inside arrays and maps, and lists the valid keys when nothing is close', () => {
    const message = configError(() =>
      validateConfig({
        upstreams: [{ name: 'a', kind: 'openai', baseUrl: 'http://x/v1', api_key_env: 'K' }],
        flow: { upstreams: { a: { maxConcurency: 3 } } },
        cost: { budgets: { tiers: { free: { daily: 1 } } } },
        zebra: 1,
      }),
    );
    assert.match(
      message,
      /`upstreams\[0\]\.api_key_env` is not a setting; did you mean `upstreams\[0\]\.apiKeyEnv`\?/,
    );
    assert.match(
      message,
      /`flow\.upstreams\.a\.maxConcurency` .*did you mean `flow\.upstreams\.a\.maxConcurrency`\?/,
    );
    assert.match(
      message,
      /`cost\.budgets\.tiers\.free\.daily` .*did you mean `cost\.budgets\.tiers\.free\.dailyUsd`\?/,
    );
    assert.match(message, /`zebra` is not a setting; valid keys at the top level: host, port, .*upstreams/);
  });

  it('suggests by case, separators, prefix and edit distance, and not at random', () => {
    const keys = ['ttlSeconds', 'maxEntries', 'maxBytes', 'enabled', 'scope'];
    assert.equal(nearestKey('ttl', keys), 'ttlSeconds');
    assert.equal(nearestKey('TTL_SECONDS', keys), 'ttlSeconds');
    assert.equal(nearestKey('maxEntires', keys), 'maxEntries');
    assert.equal(nearestKey('scop', keys), 'scope');
    assert.equal(nearestKey('colour', keys), undefined);
  });

  it('with --config, an empty upstream list is an error, not a silent simulated upstream', () => {
    const file = configFile('no-upstreams.yaml', 'port: 0\n');
    const message = configError(() => loadConfig({ file, env: {} }));
    assert.match(message, /names no upstream/);
    assert.match(message, /--simulated/);

    const asked = loadConfig({ file, env: {}, simulated: true });
    assert.equal(asked.simulated, true);
    assert.match(asked.source, /--simulated/);

    const fromEnv = loadConfig({ file, env: { OPENAI_API_KEY: 'sk-test' } });
    assert.equal(fromEnv.simulated, false);
    assert.deepEqual(
      fromEnv.config.upstreams.map((u) => u.name),
      ['openai'],
    );
  });

  it('warns at load and at start when an upstream names an unset apiKeyEnv', async () => {
    const upstream = (apiKeyEnv: string) =>
      `upstreams:\n  - {name: main, kind: openai, baseUrl: "http://127.0.0.1:9/v1", apiKeyEnv: ${apiKeyEnv}}\n`;
    const file = configFile('unset-key.yaml', upstream('SLUICE_TEST_UNSET_KEY'));
    const loaded = loadConfig({ file, env: {} });
    assert.equal(loaded.warnings.length, 1);
    assert.match(loaded.warnings[0], /upstream main: apiKeyEnv SLUICE_TEST_UNSET_KEY is not set/);
    assert.deepEqual(loadConfig({ file, env: { SLUICE_TEST_UNSET_KEY: 'sk-x' } }).warnings, []);

    const child = spawnCli(['serve', '--config', file, '--port', '0'], cleanEnv());
    try {
      const stderr = await stderrUntil(child, /auth\.required=/);
      assert.match(stderr, /WARNING: upstream main: apiKeyEnv SLUICE_TEST_UNSET_KEY is not set/);
      assert.match(stderr, /auth\.required=auto: no virtual key exists yet/);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
  });

  it('every config key carries a description for docs/configuration.md', () => {
    type Node = { properties?: Record<string, Node & { description?: string }>; items?: Node };
    const missing: string[] = [];
    const walk = (node: Node, prefix: string) => {
      for (const [key, prop] of Object.entries(node.properties ?? {})) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (!prop.description) missing.push(path);
        walk(prop, path);
        if (prop.items) walk(prop.items, `${path}[]`);
      }
    };
    walk(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Node, '');
    assert.deepEqual(missing, []);
  });
});

describe('Anthropic baseUrl with or without /v1', () => {
  for (const suffix of ['', '/v1', '/']) {
    it(`serves through an anthropic upstream at <mock>${suffix}`, async () => {
      const mock = await startMockUpstream();
      const config = validateConfig({
        port: 0,
        logLevel: 'silent',
        dataDir: join(dir, `data-${suffix.length}`),
        upstreams: [{ name: 'claude', kind: 'anthropic', baseUrl: `${mock.url}${suffix}` }],
      });
      const sluice = await startSluice({ config, env: {}, memory: true });
      try {
        const client = new Anthropic({ baseURL: sluice.url, apiKey: 'anything', maxRetries: 0 });
        const reply = await client.messages.create({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 50,
          messages: [{ role: 'user', content: 'hello' }],
        });
        assert.equal(reply.type, 'message');
        assert.ok(reply.usage.output_tokens > 0);
      } finally {
        await sluice.close();
        await mock.close();
      }
    });
  }
});
