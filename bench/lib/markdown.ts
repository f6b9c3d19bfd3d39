import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const TITLE =
  '# Benchmarks\n\nWritten by `npm run bench` (and other bench scripts); each section is replaced by the script that owns it.\n';

/**
 * Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a markdown file,
 * appending the section when missing, so several scripts can share one file.
 */
export function writeSection(file: string, name: string, body: string): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : TITLE;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  const next =
    from >= 0 && to > from
      ? text.slice(0, from) + block + text.slice(to + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}
