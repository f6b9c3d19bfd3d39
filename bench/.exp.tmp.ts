import { startService } from './lib/child.js';
import { Lab } from './lib/lab.js';
import { runLoad } from './lib/load.js';
import { freePort } from './lib/ports.js';
import { SLUICE_CONFIG } from './lib/scenarios.js';
import { chatBody, chatRequest } from './lib/targets.js';
const lab = new Lab({ root: '/work/main', pacedTokenDelayMs: 3, sluiceConfig: SLUICE_CONFIG, log: console.error });
const dur = Number(process.env.DUR ?? 4);
try {
  const mock = await lab.get('mock');
  const rows: string[] = [];
  const measure = async (name: string, url: string) => {
    for (const stream of [false, true]) for (const c of [1, 50]) {
      const r = await runLoad({ url: `${url}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('bench-fast', stream, 48) }, { connections: c, durationS: dur, warmupS: 1 });
      rows.push(`${name.padEnd(16)} ${stream ? 'stream' : 'json  '} c${String(c).padEnd(3)} ${Math.round(r.rps).toString().padStart(6)} req/s p50 ${r.latency.p50.toFixed(3)} p99 ${r.latency.p99.toFixed(3)} err ${r.errors + r.non2xx}`);
      console.error(rows.at(-1));
    }
  };
  await measure('direct', mock.url);
  for (const variant of ['request', 'request-signal', 'dispatch']) {
    const port = await freePort();
    const svc = await startService({ name: variant, port, nodeArgs: ['/tmp/proxy-exp/proxy.mjs', variant, String(port), mock.url] });
    await measure(variant, svc.url);
    await svc.stop();
  }
  const sluice = await chatRequest(lab, 'sluice', { stream: false, paced: false });
  await measure('sluice', new URL(sluice.url).origin);
  console.log(rows.join('\n'));
} finally { await lab.close(); }
