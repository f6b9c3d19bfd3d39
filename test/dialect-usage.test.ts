/**
 * The one usage normaliser (src/dialect/): golden cases from the providers' documented shapes,
 * each read into the same `Usage` (input excludes cache reads and writes in every dialect).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIALECTS, normaliseUsage, totalInputTokens } from '../src/dialect/index.js';
import { LazyEvent } from '../src/dialect/sse.js';

describe('dialect usage normaliser', () => {
  it('OpenAI: cached_tokens are part of prompt_tokens; reasoning_tokens part of completion_tokens', () => {
    const usage = normaliseUsage('openai', {
      prompt_tokens: 2006,
      completion_tokens: 300,
      total_tokens: 2306,
      prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 128, audio_tokens: 0 },
    });
    assert.deepEqual(usage, {
      inputTokens: 86,
      cacheReadTokens: 1920,
      cacheWriteTokens: 0,
      outputTokens: 300,
      reasoningTokens: 128,
    });
    assert.equal(usage && totalInputTokens(usage), 2006);
  });

  it('DeepSeek: prompt_cache_hit_tokens at the top level count as cache reads', () => {
    assert.deepEqual(
      normaliseUsage('openai', {
        prompt_tokens: 1000,
        completion_tokens: 50,
        total_tokens: 1050,
        prompt_cache_hit_tokens: 768,
        prompt_cache_miss_tokens: 232,
      }),
      { inputTokens: 232, cacheReadTokens: 768, cacheWriteTokens: 0, outputTokens: 50 },
    );
  });

  it('OpenAI-compatible proxies in front of Anthropic: cache writes under their names', () => {
    assert.deepEqual(
      normaliseUsage('openai', {
        prompt_tokens: 500,
        completion_tokens: 7,
        prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 300 },
      }),
      { inputTokens: 100, cacheReadTokens: 100, cacheWriteTokens: 300, outputTokens: 7 },
    );
  });

  it('Anthropic: cache_creation split into 5-minute and 1-hour writes', () => {
    const usage = normaliseUsage('anthropic', {
      input_tokens: 21,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 3000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      output_tokens: 393,
    });
    assert.deepEqual(usage, {
      inputTokens: 21,
      cacheReadTokens: 1000,
      cacheWriteTokens: 3000,
      cacheWrite1hTokens: 2000,
      outputTokens: 393,
    });
    // Only the split given (a proxy that dropped the total): the writes are its sum.
    assert.equal(
      normaliseUsage('anthropic', {
        input_tokens: 5,
        output_tokens: 1,
        cache_creation: { ephemeral_5m_input_tokens: 40, ephemeral_1h_input_tokens: 60 },
      })?.cacheWriteTokens,
      100,
    );
  });

  it('writes usage back in each dialect so that reading it again gives the same Usage', () => {
    const anthropic = {
      inputTokens: 21,
      cacheReadTokens: 1000,
      cacheWriteTokens: 3000,
      cacheWrite1hTokens: 2000,
      outputTokens: 393,
    };
    assert.deepEqual(DIALECTS.anthropic.usage(DIALECTS.anthropic.usageToWire(anthropic)), anthropic);
    const openai = {
      inputTokens: 86,
      cacheReadTokens: 1920,
      cacheWriteTokens: 0,
      outputTokens: 300,
      reasoningTokens: 9,
    };
    assert.deepEqual(DIALECTS.openai.usage(DIALECTS.openai.usageToWire(openai)), openai);
  });

  it('reads usage from stream events: OpenAI replaces, Anthropic merges message_start and message_delta', () => {
    const openaiEvent = LazyEvent.from({
      data: '{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}',
    });
    assert.deepEqual(DIALECTS.openai.streamUsage(openaiEvent), {
      raw: { prompt_tokens: 9, completion_tokens: 12, prompt_tokens_details: { cached_tokens: 4 } },
      merge: false,
    });
    assert.equal(DIALECTS.openai.isUsageOnlyEvent(openaiEvent), true);
    assert.equal(DIALECTS.openai.streamUsage(LazyEvent.from({ data: '[DONE]' })), undefined);
    const start = LazyEvent.from({
      event: 'message_start',
      data: '{"type":"message_start","message":{"usage":{"input_tokens":21,"cache_read_input_tokens":7,"output_tokens":1}}}',
    });
    assert.deepEqual(DIALECTS.anthropic.streamUsage(start)?.merge, true);
    const delta = LazyEvent.from({
      data: '{"type":"message_delta","delta":{},"usage":{"output_tokens":393}}',
    });
    assert.deepEqual(DIALECTS.anthropic.streamUsage(delta)?.raw, { output_tokens: 393 });
  });
});
