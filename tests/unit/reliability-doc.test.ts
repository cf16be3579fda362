import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(path.join(root, 'docs/reliability.md'), 'utf8');
/** Every "proven by" cell: `file` › title. */
const proofs = [...doc.matchAll(/^\|.*\| `(tests\/[^`]+)` › ([^|]+?) \|$/gm)].map((m) => ({ file: m[1]!, title: m[2]!.trim() }));

describe('docs/reliability.md', () => {
  it('names a test for every case', () => {
    const rows = doc.split('\n').filter((l) => /^\| (?!case|---)/.test(l));
    expect(proofs.length).toBe(rows.length);
    expect(proofs.length).toBeGreaterThanOrEqual(20);
  });

  it.each(proofs.map((p) => [p.file, p.title]))('%s has the test "%s"', (file, title) => {
    const full = path.join(root, file);
    expect(existsSync(full)).toBe(true);
    // the title exactly as written in the test's source (a parameterised one with its %s, %d, %j)
    // a string literal in any quotes, escapes included, as the first argument of it(…) or it.each(…)(…)
    const literal = /(?:it|it\.each\([\s\S]*?\))\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
    const titles = [...readFileSync(full, 'utf8').matchAll(literal)].map((m) => m[2]!.replace(/\\(.)/g, '$1'));
    expect(titles).toContain(title);
  });
});
