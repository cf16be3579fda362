/**
 * What a client may observe of the gateway's file system, as a model: a tree of folders and files with
 * contents, and each write operation's status on it. The concurrency suite checks a recorded history of
 * concurrent operations against it: there must be one order of the operations, consistent with real
 * time (an operation that ended before another began comes first), in which every operation has the
 * status it answered and which ends in the bucket's final state (linearizability). That is the
 * promise: every acknowledged write stays in effect unless a later one supersedes it, two operations
 * that cannot both succeed never both do, and nothing is left half-done. One allowance, from the contract:
 * a copy of a folder rename, move or delete sent while the first is under way joins its job, and both
 * answer 200 for one effect.
 *
 * Paths are relative, without trailing slash; '' is the root, which always exists.
 */

export type EntryType = 'file' | 'folder';
export type Node = { type: 'folder' } | { type: 'file'; content: string };
export type Tree = ReadonlyMap<string, Node>;

export type Op =
  | { kind: 'mkdir'; parent: string; name: string }
  | { kind: 'upload'; parent: string; name: string; content: string }
  | { kind: 'replace'; path: string; content: string }
  | { kind: 'rename'; path: string; type: EntryType; name: string }
  | { kind: 'move'; path: string; type: EntryType; parent: string }
  | { kind: 'delete'; path: string; type: EntryType };

/** One operation as a client saw it: when it was sent, when the answer came, and the answer. */
export interface Event {
  client: number;
  op: Op;
  start: number;
  end: number;
  /** The HTTP status; 'none' when it surely had no effect (refused before any work), 'unknown' when it may or may not have had one. */
  status: number | 'none' | 'unknown';
}

const join = (parent: string, name: string) => (parent === '' ? name : `${parent}/${name}`);
export const parentOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
export const nameOf = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const isFolder = (t: Tree, path: string) => path === '' || t.get(path)?.type === 'folder';
const exists = (t: Tree, path: string, type: EntryType) => (type === 'folder' ? path !== '' && isFolder(t, path) : t.get(path)?.type === 'file');
const inside = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);

/** The tree with `path` (and, for a folder, everything in it) moved to `target`. */
function relocated(t: Tree, path: string, target: string): Map<string, Node> {
  const next = new Map<string, Node>();
  for (const [p, n] of t) next.set(inside(p, path) ? target + p.slice(path.length) : p, n);
  return next;
}

/** An operation's status on a tree, and the tree after it: the gateway's rules, checked in its order. */
export function apply(t: Tree, op: Op): { status: number; tree: Tree } {
  const same = (status: number) => ({ status, tree: t });
  const changed = (tree: Map<string, Node>) => ({ status: 200, tree });
  switch (op.kind) {
    case 'mkdir': {
      if (!isFolder(t, op.parent)) return same(404);
      const path = join(op.parent, op.name);
      const there = t.get(path);
      if (there) return same(there.type === 'file' ? 409 : 200);
      return changed(new Map(t).set(path, { type: 'folder' }));
    }
    case 'upload': {
      if (!isFolder(t, op.parent)) return same(404);
      const path = join(op.parent, op.name);
      if (t.has(path)) return same(409);
      return changed(new Map(t).set(path, { type: 'file', content: op.content }));
    }
    case 'replace':
      if (!exists(t, op.path, 'file')) return same(404);
      return changed(new Map(t).set(op.path, { type: 'file', content: op.content }));
    case 'rename':
    case 'move': {
      let target: string;
      if (op.kind === 'move') {
        if (op.type === 'folder' && inside(op.parent, op.path)) return same(400);
        target = join(op.parent, nameOf(op.path));
        if (target !== op.path && !isFolder(t, op.parent)) return same(404);
      } else {
        target = join(parentOf(op.path), op.name);
      }
      if (!exists(t, op.path, op.type)) return same(404);
      if (target === op.path) return same(200);
      if (t.has(target)) return same(409);
      return changed(relocated(t, op.path, target));
    }
    case 'delete': {
      if (!exists(t, op.path, op.type)) return same(404);
      const next = new Map(t);
      for (const p of t.keys()) if (inside(p, op.path)) next.delete(p);
      return changed(next);
    }
  }
}

/**
 * What a folder rename, move or delete does, as the gateway names its job: two requests with the same
 * effect are one job, and the contract lets a concurrent copy join the first (both answer 200, and the
 * job is done once). Undefined for operations that are not folder jobs (or do nothing).
 */
export function jobEffect(op: Op): string | undefined {
  if (op.kind === 'delete') return op.type === 'folder' ? `delete\0${op.path}` : undefined;
  if ((op.kind !== 'move' && op.kind !== 'rename') || op.type !== 'folder') return undefined;
  const target = op.kind === 'move' ? join(op.parent, nameOf(op.path)) : join(parentOf(op.path), op.name);
  return target === op.path ? undefined : `move\0${op.path}\0${target}`;
}

export const treeKey = (t: Tree) =>
  [...t]
    .map(([p, n]) => (n.type === 'file' ? `${p}=${n.content}` : `${p}/`))
    .sort()
    .join('\n');

export type Verdict = { ok: true; order: number[] } | { ok: false; reason: string };

/**
 * Searches for an order of `history` that explains every status and ends in `final` (Wing & Gong's
 * search, memoised on the set of operations placed and the tree they made).
 */
export function linearize(initial: Tree, history: Event[], final: Tree): Verdict {
  const n = history.length;
  const goal = treeKey(final);
  const failed = new Set<string>();
  const order: number[] = [];
  let deepest: number[] = [];
  const done = new Array<boolean>(n).fill(false);
  /** A copy of a folder job placed already, sent before that one's answer came: it may have joined it. */
  const joinsPlaced = (e: Event) => {
    const effect = jobEffect(e.op);
    return effect !== undefined && history.some((a, i) => done[i] && a !== e && a.status === 200 && jobEffect(a.op) === effect && e.start < a.end);
  };
  const search = (tree: Tree, placed: number): boolean => {
    if (placed === n) return treeKey(tree) === goal;
    const memo = `${done.map((d) => (d ? 1 : 0)).join('')}|${treeKey(tree)}`;
    if (failed.has(memo)) return false;
    // Candidates: operations not placed that no unplaced operation wholly precedes in real time.
    const firstEnd = Math.min(...history.filter((_, i) => !done[i]).map((e) => e.end));
    for (let i = 0; i < n; i++) {
      const e = history[i]!;
      if (done[i] || e.start > firstEnd) continue;
      const outcomes: Tree[] = [];
      if (e.status === 'none' || (e.status === 200 && joinsPlaced(e))) {
        outcomes.push(tree);
      }
      if (e.status !== 'none') {
        const r = apply(tree, e.op);
        if (e.status === 'unknown') outcomes.push(r.tree, tree);
        else if (r.status === e.status) outcomes.push(r.tree);
      }
      for (const next of outcomes) {
        done[i] = true;
        order.push(i);
        if (order.length > deepest.length) deepest = [...order];
        if (search(next, placed + 1)) return true;
        order.pop();
        done[i] = false;
      }
    }
    failed.add(memo);
    return false;
  };
  if (search(initial, 0)) return { ok: true, order: [...order] };
  const stuck = history.filter((_, i) => !deepest.includes(i)).map((e) => `client ${e.client} ${JSON.stringify(e.op)} → ${e.status}`);
  return {
    ok: false,
    reason: `no order of the ${n} operations explains the answers and the final state; the longest explained prefix places ${deepest.length}, then none of: ${stuck.slice(0, 6).join('; ')}`,
  };
}

/** A small seeded generator (mulberry32), so that a run's operations can be made again from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
