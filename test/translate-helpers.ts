import { startSluice } from '../src/app.js';
import type { Config } from '../src/config/index.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import type { TestGateway } from './helpers.js';

/**
 * A gateway whose OpenAI-kind upstream serves only `gpt-*` and whose Anthropic-kind upstream
 * serves only `claude-*` (both the same simulated upstream), so a model named on the other
 * route is translated.
 */
export async function startSplitGateway(overrides: Record<string, unknown> = {}): Promise<TestGateway> {
  const mock = await startMockUpstream();
  const upstream = (kind: 'openai' | 'anthropic', models: string[]) => ({
    name: `sim-${kind}`,
    kind,
    baseUrl: `${mock.url}/v1`,
    models,
    forwardHeaderPrefixes: ['x-mock-'],
    retry: { maxAttempts: 1 },
  });
  const config: Config = validateConfig({
    port: 0,
    logLevel: 'silent',
    dataDir: `/tmp/sluice-test-${process.pid}-${Math.random().toString(36).slice(2)}`,
    upstreams: [upstream('openai', ['gpt-*']), upstream('anthropic', ['claude-*'])],
    ...overrides,
  });
  const sluice = await startSluice({ config, env: {} });
  return {
    sluice,
    mock,
    url: sluice.url,
    v1: `${sluice.url}/v1`,
    async close() {
      await sluice.close();
      await mock.close();
    },
  };
}

/** Ask the simulated upstream directly (what it answers a body, without the gateway). */
export async function askMock(
  gw: TestGateway,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(gw.mock.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ ...(body as object), stream: false }),
  });
  return (await res.json()) as Record<string, unknown>;
}
