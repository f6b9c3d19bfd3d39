// The least a Node gateway can do: node:http in, one undici pool out, JSON parsed once each way,
// streams relayed chunk by chunk. The benchmark runs it beside Sluice as the floor of proxy cost
// on this machine: what Sluice adds beyond it is the gateway's own work.
//   node bench/lib/floor-proxy.mjs PORT FAST_UPSTREAM_URL PACED_UPSTREAM_URL PACED_MODEL
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, fastUrl, pacedUrl, pacedModel] = process.argv.slice(2);
const pools = {
  fast: new Pool(fastUrl, { connections: 256, keepAliveTimeout: 30_000 }),
  paced: new Pool(pacedUrl, { connections: 256, keepAliveTimeout: 30_000 }),
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function relay(req, res) {
  const body = JSON.parse((await readBody(req)).toString('utf8'));
  const pool = body.model === pacedModel ? pools.paced : pools.fast;
  const upstream = await pool.request({
    path: req.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
    body: JSON.stringify(body),
  });
  if (body.stream) {
    res.writeHead(upstream.statusCode, { 'content-type': 'text/event-stream; charset=utf-8' });
    for await (const chunk of upstream.body) res.write(chunk);
    res.end();
    return;
  }
  const chunks = [];
  for await (const chunk of upstream.body) chunks.push(chunk);
  const reply = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  JSON.parse(reply.toString('utf8'));
  res.writeHead(upstream.statusCode, { 'content-type': 'application/json', 'content-length': reply.length });
  res.end(reply);
}

createServer((req, res) => {
  relay(req, res).catch((e) => {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: String(e) } }));
  });
}).listen(Number(port), '127.0.0.1');

// A clean exit on SIGTERM so `--cpu-prof` (bench --profile) can write its profile.
process.on('SIGTERM', () => process.exit(0));
