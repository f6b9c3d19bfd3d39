import { DIALECTS } from '../dialect/index.js';
import type { Dialect } from '../pipeline/types.js';
import type { UsageReader } from '../upstream/stage.js';
import { StreamUsageMeter } from './stream-usage.js';

export interface UsageReaderOptions {
  /**
   * Ask OpenAI-dialect upstreams for a final usage chunk (`stream_options.include_usage`) and
   * hide it from clients that did not ask (an event filter on the stream observer). Turn off only for an upstream that rejects the field.
   */
  requestStreamUsage?: boolean;
}

/** The upstream stage's usage reader: provider usage from JSON replies and streams. */
export function createUsageReader(options: UsageReaderOptions = {}): UsageReader {
  const askForUsage = options.requestStreamUsage ?? true;
  return {
    fromJson: (dialect: Dialect, parsed: unknown) =>
      DIALECTS[dialect].usage((parsed as { usage?: unknown } | null)?.usage),
    streamMeter: (dialect: Dialect) => new StreamUsageMeter(dialect),
    prepareStream: askForUsage
      ? (dialect: Dialect, body: Record<string, unknown>) => {
          const spec = DIALECTS[dialect];
          const prepared = spec.requestStreamUsage(body);
          return prepared.stripUsage
            ? { body: prepared.body, dropEvent: spec.isUsageOnlyEvent }
            : { body: prepared.body };
        }
      : undefined,
  };
}
