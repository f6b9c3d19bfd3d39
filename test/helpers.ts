import { simulatedUpstreams, startSluice, type RunningSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import type { Config } from '../src/config/index.js';
import { startMockUpstream, type MockUpstream, type MockUpstreamOptions } from '../src/mock/index.js';

export interface TestGateway {
  sluice: RunningSluice;
  mock: MockUpstream;
  /** Gateway root URL (Anthropic SDK baseURL). */
  url: string;
  /** Gateway URL with /v1 (OpenAI SDK baseURL). */
  v1: string;
  close(): Promise<void>;
}

/** A gateway on an ephemeral port in front of an in-process simulated upstream. */
export async function startTestGateway(
  overrides: Record<string, unknown> = {},
  mockOptions: MockUpstreamOptions = {},
  env: NodeJS.ProcessEnv = {},
): Promise<TestGateway> {
  const mock = await startMockUpstream(mockOptions);
  const config: Config = validateConfig({
    port: 0,
    logLevel: 'silent',
    dataDir: `/tmp/sluice-test-${process.pid}-${Math.random().toString(36).slice(2)}`,
    upstreams: simulatedUpstreams(mock.url),
    ...overrides,
  });
  const sluice = await startSluice({ config, env });
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
