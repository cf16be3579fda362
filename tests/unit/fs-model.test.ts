import { apply, linearize, treeKey, type Event, type Node, type Op, type Tree } from '../support/fs-model.js';

const tree = (entries: Record<string, string | null>): Tree =>
  new Map(Object.entries(entries).map(([p, c]): [string, Node] => [p, c === null ? { type: 'folder' } : { type: 'file', content: c }]));
/** Events with made-up times: [start, end] each. */
const ev = (client: number, op: Op, start: number, end: number, status: Event['status']): Event => ({ client, op, start, end, status });

describe('the file-system model', () => {
  const t = tree({ A: null, 'A/x': 'one', B: null });

  it('answers as the gateway does: 404 without parent or source, 409 on a taken name, 400 for a folder into itself', () => {
    expect(apply(t, { kind: 'upload', parent: 'C', name: 'y', content: 'c' }).status).toBe(404);
    expect(apply(t, { kind: 'upload', parent: 'A', name: 'x', content: 'c' }).status).toBe(409);
    expect(apply(t, { kind: 'mkdir', parent: 'A', name: 'x' }).status).toBe(409);
    expect(apply(t, { kind: 'mkdir', parent: '', name: 'A' }).status).toBe(200);
    expect(apply(t, { kind: 'replace', path: 'A', content: 'c' }).status).toBe(404);
    expect(apply(t, { kind: 'rename', path: 'A/x', type: 'folder', name: 'z' }).status).toBe(404);
    expect(apply(t, { kind: 'move', path: 'A', type: 'folder', parent: 'A' }).status).toBe(400);
    expect(apply(t, { kind: 'move', path: 'A', type: 'folder', parent: 'C' }).status).toBe(404);
    expect(apply(t, { kind: 'move', path: 'A/x', type: 'file', parent: 'A' }).status).toBe(200);
  });

  it('moves a folder with everything in it, and deletes it so', () => {
    const moved = apply(t, { kind: 'move', path: 'A', type: 'folder', parent: 'B' });
    expect(treeKey(moved.tree)).toBe(treeKey(tree({ B: null, 'B/A': null, 'B/A/x': 'one' })));
    expect(treeKey(apply(t, { kind: 'delete', path: 'A', type: 'folder' }).tree)).toBe(treeKey(tree({ B: null })));
  });
});

describe('the linearizability check', () => {
  const start = tree({ a: 'A', b: 'B' });

  it('accepts concurrent renames onto one name when one won and the other got 409', () => {
    const history = [
      ev(1, { kind: 'rename', path: 'a', type: 'file', name: 'n' }, 0, 10, 200),
      ev(2, { kind: 'rename', path: 'b', type: 'file', name: 'n' }, 1, 9, 409),
    ];
    expect(linearize(start, history, tree({ n: 'A', b: 'B' })).ok).toBe(true);
    // the same answers cannot end with b's bytes under n
    expect(linearize(start, history, tree({ n: 'B', a: 'A' })).ok).toBe(false);
  });

  it('refuses both renames onto one name answering 200', () => {
    const history = [
      ev(1, { kind: 'rename', path: 'a', type: 'file', name: 'n' }, 0, 10, 200),
      ev(2, { kind: 'rename', path: 'b', type: 'file', name: 'n' }, 1, 9, 200),
    ];
    expect(linearize(start, history, tree({ n: 'B' })).ok).toBe(false);
  });

  it('refuses a lost acknowledged write, and accepts one superseded by a later write', () => {
    const upload = ev(1, { kind: 'replace', path: 'a', content: 'A2' }, 0, 5, 200);
    expect(linearize(start, [upload], tree({ a: 'A', b: 'B' })).ok).toBe(false);
    const later = ev(2, { kind: 'replace', path: 'a', content: 'A3' }, 6, 8, 200);
    expect(linearize(start, [upload, later], tree({ a: 'A3', b: 'B' })).ok).toBe(true);
    // real time: the later replace began after the first was acknowledged, so it cannot come first
    expect(linearize(start, [upload, later], tree({ a: 'A2', b: 'B' })).ok).toBe(false);
  });

  it('refuses folders moved into each other both answering 200', () => {
    const folders = tree({ X: null, 'X/x': 'x', Y: null });
    const history = [
      ev(1, { kind: 'move', path: 'X', type: 'folder', parent: 'Y' }, 0, 10, 200),
      ev(2, { kind: 'move', path: 'Y', type: 'folder', parent: 'X' }, 1, 9, 200),
    ];
    expect(linearize(folders, history, tree({ Y: null, 'Y/X': null, 'Y/X/x': 'x' })).ok).toBe(false);
    const fixed = [history[0]!, { ...history[1]!, status: 404 as const }];
    expect(linearize(folders, fixed, tree({ Y: null, 'Y/X': null, 'Y/X/x': 'x' })).ok).toBe(true);
  });

  it('lets a concurrent copy of a folder job join it (both 200, done once), but not a copy sent after its answer, a file move or another job', () => {
    const folders = tree({ X: null, 'X/x': 'x', Y: null });
    const after = tree({ Y: null, 'Y/X': null, 'Y/X/x': 'x' });
    const first = ev(1, { kind: 'move', path: 'X', type: 'folder', parent: 'Y' }, 0, 10, 200);
    const copy = ev(2, { kind: 'move', path: 'X', type: 'folder', parent: 'Y' }, 5, 12, 200);
    expect(linearize(folders, [first, copy], after).ok).toBe(true);
    expect(linearize(folders, [first, { ...copy, start: 11 }], after).ok).toBe(false);
    const deleted = tree({ Y: null });
    const del = ev(1, { kind: 'delete', path: 'X', type: 'folder' }, 0, 10, 200);
    expect(linearize(folders, [del, { ...del, client: 2, start: 3 }], deleted).ok).toBe(true);
    expect(linearize(folders, [del, { ...first, client: 2, start: 3 }], deleted).ok).toBe(false);
    const files = tree({ a: 'A', Y: null });
    const fileMove = ev(1, { kind: 'move', path: 'a', type: 'file', parent: 'Y' }, 0, 10, 200);
    expect(linearize(files, [fileMove, { ...fileMove, client: 2, start: 3 }], tree({ Y: null, 'Y/a': 'A' })).ok).toBe(false);
  });

  it('lets an operation of unknown outcome have happened or not, and one refused for its turn not happen', () => {
    const lost = ev(1, { kind: 'delete', path: 'a', type: 'file' }, 0, 5, 'unknown');
    expect(linearize(start, [lost], tree({ b: 'B' })).ok).toBe(true);
    expect(linearize(start, [lost], start).ok).toBe(true);
    const refused = ev(1, { kind: 'delete', path: 'a', type: 'file' }, 0, 5, 'none');
    expect(linearize(start, [refused], tree({ b: 'B' })).ok).toBe(false);
  });
});
