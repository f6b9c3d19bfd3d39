import { Lab } from './lib/lab.js';
import { SLUICE_CONFIG } from './lib/scenarios.js';
import { chatRequest } from './lib/targets.js';
import { measureTtfb } from './lib/ttfb.js';
const lab = new Lab({ root: '/work/main', pacedTokenDelayMs: 3, sluiceConfig: SLUICE_CONFIG, log: () => {} });
try {
  for (const paced of [false, true]) for (const stream of [true, false]) {
    if (paced && !stream) continue;
    const spec = await chatRequest(lab, 'direct', { stream, paced });
    const t = await measureTtfb(spec, { requests: 300, warmup: 50 });
    console.log(`paced=${paced} stream=${stream} headers p50 ${t.headers.p50.toFixed(3)} first ${t.firstByte.p50.toFixed(3)} total ${t.total.p50.toFixed(3)}`);
  }
} finally { await lab.close(); }
