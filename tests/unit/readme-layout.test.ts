import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The README's Layout section is a map of the tree: every path it names exists, and a folder it opens
 * (names any of its entries) has every entry named, so a new module shows up there or fails here.
 */

const block = (() => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('\n## Layout'));
  const start = section.indexOf('```\n') + 4;
  return section.slice(start, section.indexOf('```', start));
})();

/** Paths the block names, built from its indentation: `src/` then `  http/` then `    app.ts` → src/http/app.ts. */
function namedPaths(): Set<string> {
  const named = new Set<string>();
  const stack: Array<{ indent: number; dir: string }> = [];
  for (const line of block.split('\n')) {
    const indent = line.length - line.trimStart().length;
    const first = line.trim().split(/ {2,}/)[0]!;
    // Entries are paths (`a.ts, b.ts`, `dir/`); a description's second line is prose and is skipped.
    if (!/^[\w.$-]+(\/[\w.$-]+)*\/?(,\s*[\w.$-]+(\/[\w.$-]+)*\/?)*$/.test(first)) continue;
    while (stack.length && stack.at(-1)!.indent >= indent) stack.pop();
    const base = stack.length ? stack.at(-1)!.dir : '';
    for (const name of first.split(/,\s*/)) {
      const full = path.posix.join(base, name);
      named.add(full.replace(/\/$/, ''));
      // `routes/health.ts` names its folder too.
      for (let d = path.posix.dirname(full); d !== '.' && d !== base.replace(/\/$/, ''); d = path.posix.dirname(d)) named.add(d);
      if (name.endsWith('/')) stack.push({ indent, dir: full });
    }
  }
  return named;
}

describe("the README's Layout", () => {
  const named = namedPaths();

  it('names only paths that exist', () => {
    expect(named.size).toBeGreaterThan(30);
    expect([...named].filter((p) => !existsSync(p))).toEqual([]);
  });

  it('names every entry of each src/ folder it opens', () => {
    const missing: string[] = [];
    const opened = [...named].filter(
      (p) => (p === 'src' || p.startsWith('src/')) && statSync(p).isDirectory() && [...named].some((q) => q.startsWith(`${p}/`)),
    );
    for (const dir of opened) {
      for (const entry of readdirSync(dir)) {
        const p = `${dir}/${entry}`;
        if (!named.has(p)) missing.push(p);
      }
    }
    expect(missing).toEqual([]);
  });
});
