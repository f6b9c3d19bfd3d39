import type { Reply, RequestContext, Stage } from './types.js';

/**
 * Compose stages once at boot into one handler. The last stage is terminal (it never calls
 * `next`). Calling `next` twice is a bug in a stage and fails loudly, as in Hono's compose.
 */
export function compose(stages: readonly Stage[]): (ctx: RequestContext) => Promise<Reply> {
  if (stages.length === 0) throw new TypeError('compose needs at least the terminal stage');
  return (ctx) => {
    let last = -1;
    const dispatch = (i: number): Promise<Reply> => {
      if (i <= last) return Promise.reject(new Error('next() called twice by a pipeline stage'));
      last = i;
      const stage = stages[i];
      if (stage === undefined) return Promise.reject(new Error('the terminal stage called next()'));
      return stage(ctx, () => dispatch(i + 1));
    };
    return dispatch(0);
  };
}
