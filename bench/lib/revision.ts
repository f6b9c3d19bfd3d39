import { execFileSync } from 'node:child_process';

export interface Revision {
  commit: string;
  /** src/ differs from the commit: the numbers belong to uncommitted code. */
  dirty: boolean;
}

/** Which code was measured; undefined outside a git checkout. */
export function gitRevision(root: string): Revision | undefined {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const commit = git('rev-parse', '--short', 'HEAD').trim();
    const dirty = git('status', '--porcelain', '--', 'src').trim() !== '';
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

export function describeRevision(r: Revision | undefined): string {
  if (!r) return 'an unknown revision';
  return `commit ${r.commit}${r.dirty ? ' with uncommitted changes in src/' : ''}`;
}
