/**
 * `GET /dashboard` and its assets: one static page (HTML, JS, CSS in ./static, copied next to
 * the compiled module by `npm run build`) and uPlot, served from node_modules: no CDN. The
 * page holds no data; it reads `/v1/stats` and `/v1/stats/series`, which need the admin key
 * when one is set. Files are read once, on first use.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../../errors.js';
import { RawReply } from '../http.js';

const staticFile = (name: string) => fileURLToPath(new URL(`./static/${name}`, import.meta.url));
const fromPackage = (path: string) => createRequire(import.meta.url).resolve(path);

const ASSETS: Readonly<Record<string, { path: () => string; type: string }>> = {
  'index.html': { path: () => staticFile('index.html'), type: 'text/html; charset=utf-8' },
  'dashboard.js': { path: () => staticFile('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: () => staticFile('dashboard.css'), type: 'text/css; charset=utf-8' },
  'uplot.js': {
    path: () => fromPackage('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  'uplot.css': { path: () => fromPackage('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Only this origin's own files and API: no inline script, no third party, not framed. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const loaded = new Map<string, Buffer>();

/** The asset `name` (`index.html` for the page itself), or 404. */
export function dashboardAsset(name: string): RawReply {
  const asset = ASSETS[name];
  if (!asset) throw new SluiceError('not_found', `no dashboard file ${name}`);
  let body = loaded.get(name);
  if (!body) {
    body = readFileSync(asset.path());
    loaded.set(name, body);
  }
  return new RawReply(body, { ...SECURITY_HEADERS, 'content-type': asset.type });
}
