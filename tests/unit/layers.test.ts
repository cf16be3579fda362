import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Dependencies point one way: http → core → storage, with errors.ts beneath all of them and the shell a
 * client of its own. Read from the import statements of src/, so a new import across a layer fails here.
 */

const SRC = path.resolve('src');
const files = (readdirSync(SRC, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.split(path.sep).join('/'));

/** A file's imports: relative ones resolved to src paths (`core/ids.ts`), packages by name. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(path.join(SRC, file), 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms), ...text.matchAll(/import\('([^']+)'\)/g)].map((m) => m[1]!);
  const local: string[] = [];
  const packages: string[] = [];
  for (const s of specs) {
    if (s.startsWith('.')) local.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
    else if (!s.startsWith('node:')) packages.push(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
  }
  return { local, packages };
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));
const layerOf = (f: string) => (f === 'errors.ts' ? 'errors' : f.split('/')[0]!.replace(/\.ts$/, ''));

/** Everything a file reaches through src imports, itself included. */
function reach(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const next of graph.get(file)?.local ?? []) reach(next, seen);
  return seen;
}

/** Imports from files of layer `from` into files whose layer `forbidden` accepts, as `a.ts → b.ts`. */
const crossings = (from: string, forbidden: (layer: string) => boolean) =>
  files
    .filter((f) => layerOf(f) === from)
    .flatMap((f) =>
      graph
        .get(f)!
        .local.filter((l) => forbidden(layerOf(l)))
        .map((l) => `${f} → ${l}`),
    );

describe('the layers of src/', () => {
  it('resolves every relative import to a file of src/', () => {
    const missing = [...graph].flatMap(([f, i]) => i.local.filter((l) => !graph.has(l)).map((l) => `${f} → ${l}`));
    expect(missing).toEqual([]);
  });

  it('errors.ts imports nothing: core and storage both build on it', () => {
    expect(graph.get('errors.ts')).toEqual({ local: [], packages: [] });
  });

  it('storage imports nothing from core, http or the shell', () => {
    expect(crossings('storage', (l) => ['core', 'http', 'shell'].includes(l))).toEqual([]);
  });

  it('core imports nothing from http, the shell or start-up, and reaches no S3 SDK and no S3 adapter', () => {
    expect(crossings('core', (l) => ['http', 'shell', 'runtime', 'main', 'config', 'banner'].includes(l))).toEqual([]);
    const sdk = files
      .filter((f) => layerOf(f) === 'core')
      .flatMap((f) =>
        [...reach(f)].filter((r) => graph.get(r)!.packages.some((p) => p.startsWith('@aws-sdk') || p.startsWith('@smithy'))).map((r) => `${f} ⇒ ${r}`),
      );
    expect(sdk).toEqual([]);
  });

  it('http reaches storage only through core (no S3 adapter, no store implementation)', () => {
    expect(crossings('http', (l) => l === 'storage')).toEqual([]);
  });

  it('the shell is a client of the HTTP API: it imports nothing of the gateway itself', () => {
    expect(crossings('shell', (l) => l !== 'shell')).toEqual([]);
  });
});
