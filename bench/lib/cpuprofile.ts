import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) this summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  /** Self time by where the code lives: a package, node internals, a dist/ file, GC. */
  byArea: SelfTime[];
  byFile: SelfTime[];
  byFunction: SelfTime[];
  /** Inclusive time of the gateway's own functions (dist/): what each costs with all it calls. */
  distInclusive: SelfTime[];
  /** Native self time (syscalls, string encoding) by the nearest gateway or package frame that caused it. */
  nativeByCaller: SelfTime[];
}

// Pseudo-frames V8 reports for time not spent in JS functions.
const IDLE = '(idle)';

/** Aggregates a profile's self time (sample time deltas) by function, by file and by area. */
export function summariseProfile(file: string, root: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byArea = new Map<string, number>();
  const distInclusive = new Map<string, number>();
  const nativeByCaller = new Map<string, number>();
  const label = (f: CpuProfile['nodes'][number]['callFrame']) => {
    const where = shortUrl(f.url, root);
    return `${f.functionName || '(anonymous)'}${where ? `  ${where}:${f.lineNumber + 1}` : ''}`;
  };
  let totalUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]);
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || us <= 0) continue;
    totalUs += us;
    if (frame.functionName === IDLE) {
      idleUs += us;
      continue;
    }
    const where = shortUrl(frame.url, root);
    add(byFunction, label(frame), us);
    add(byFile, where || frame.functionName, us);
    add(byArea, area(frame.url, frame.functionName), us);

    // Walk up the stack once: gateway functions on it (counted once each) and, for native
    // leaves, the nearest frame in our code or a package.
    const seen = new Set<string>();
    let caller: string | undefined;
    const native = frame.url === '' && !frame.functionName.startsWith('(');
    for (let id = parents.get(profile.samples[i]); id !== undefined; id = parents.get(id)) {
      const f = frames.get(id);
      if (!f) break;
      if (native && caller === undefined && (f.url.includes('/dist/') || f.url.includes('/node_modules/'))) {
        caller = label(f);
      }
      if (f.url.includes('/dist/')) seen.add(label(f));
    }
    if (frame.url.includes('/dist/')) seen.add(label(frame));
    for (const name of seen) add(distInclusive, name, us);
    if (native) add(nativeByCaller, `${frame.functionName} ← ${caller ?? '(node internals only)'}`, us);
  }
  const busyUs = totalUs - idleUs;
  const ranked = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .map(([name, us]) => ({ name, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
      .sort((a, b) => b.ms - a.ms);
  return {
    file,
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    byArea: ranked(byArea),
    byFile: ranked(byFile),
    byFunction: ranked(byFunction),
    distInclusive: ranked(distInclusive),
    nativeByCaller: ranked(nativeByCaller),
  };
}

/** Every `.cpuprofile` under a directory (or the file itself), newest last. */
export function findProfiles(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.cpuprofile'))
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}

export function formatSummary(s: ProfileSummary, top: number): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)} %`;
  const rows = (list: SelfTime[], n: number) =>
    list
      .slice(0, n)
      .map((t) => `  ${t.ms.toFixed(0).padStart(7)} ms ${pct(t.share)}  ${t.name}`)
      .join('\n');
  return [
    `${s.file}: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (${((s.busyMs / s.totalMs) * 100).toFixed(0)} %), ${s.idleMs.toFixed(0)} ms idle`,
    'Self time by area (share of busy time):',
    rows(s.byArea, 15),
    'By file:',
    rows(s.byFile, 15),
    `Top ${top} functions by self time:`,
    rows(s.byFunction, top),
    'Gateway functions (dist/) by inclusive time:',
    rows(s.distInclusive, 25),
    'Native time (syscalls, encoding) by the gateway/package frame that caused it:',
    rows(s.nativeByCaller, 20),
  ].join('\n');
}

function add(m: Map<string, number>, key: string, us: number): void {
  m.set(key, (m.get(key) ?? 0) + us);
}

function shortUrl(url: string, root: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  return path.startsWith('/') ? relative(root, path) : path;
}

/** `node_modules/<pkg>`, `node:<module>`, `dist/<dir>` or a V8 pseudo-frame such as `(garbage collector)`. */
function area(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const dist = url.indexOf('/dist/');
  if (dist >= 0) {
    const parts = url.slice(dist + 1).split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}/` : parts.join('/');
  }
  return url;
}

// `npx tsx bench/lib/cpuprofile.ts <file or dir> [top]`
if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, top = '30'] = process.argv.slice(2);
  if (!path) {
    console.error('usage: npx tsx bench/lib/cpuprofile.ts <file.cpuprofile | dir> [top]');
    process.exit(2);
  }
  for (const file of findProfiles(path))
    console.log(`${formatSummary(summariseProfile(file, process.cwd()), Number(top))}\n`);
}
