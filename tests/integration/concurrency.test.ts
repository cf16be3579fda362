import { createHash, randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { linearize, seeded, treeKey, type EntryType, type Event, type Node, type Op, type Tree } from '../support/fs-model.js';
import { externalS3, runGateway, type Running } from '../support/processes.js';
import { describeWithRedis, realS3, testRedisUrl, uniquePrefix } from '../support/targets.js';

/**
 * Random interleavings of what sync clients do — uploads and replaces (in one small request, in a
 * multipart upload, or segmented), renames, moves, deletes, new folders — from several clients at once against two gateway processes on one Redis and one S3, on a handful of
 * names so that they collide. Each run's operations come from a seed (CONCURRENCY_SEED=<n> makes a run's
 * operations again) and its history is written to a file whose path a failure names. The bucket's final
 * state and every answer must be explained by one order of the operations (see fs-model.ts), every stored
 * hash must be the hash of the stored bytes, and nothing may be left half-done.
 */

const PASSWORD = 'concurrency-password';
const MiB = 1024 * 1024;
const PART = 5 * MiB;
const CLIENTS = 8;
const OPS_PER_CLIENT = 12;
const RUNS = Number(process.env.CONCURRENCY_RUNS ?? 3);
const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const idOf = (rel: string) => (rel === '' ? 'root' : Buffer.from(rel, 'utf8').toString('base64url'));

const FOLDERS = ['A', 'B', 'A/A', 'A/B', 'B/A'];
const FILES = ['x', 'y', 'A/x', 'A/y', 'B/x', 'A/A/x', 'B/A/y'];
const NAMES = ['x', 'y', 'A', 'B'];

/** How an upload or replace sends its bytes: one small request, one request of several parts, or a segmented upload. */
type Way = 'small' | 'large' | 'segments';
interface Planned {
  op: Op;
  way: Way;
  /** Which of the two gateways it goes through. */
  via: number;
}

/** The bytes of an upload: its label, then (for a large one) enough padding to take several parts. */
const bytesOf = (content: string, way: Way) =>
  way === 'large' ? Buffer.concat([Buffer.from(`${content}\n`), Buffer.alloc(PART + 4096, '.')]) : Buffer.from(content);
const labelOf = (bytes: Buffer) => bytes.toString('utf8', 0, Math.min(bytes.length, 200)).split('\n')[0]!;

/** One client's operations, drawn from the seed: on few names, so that clients meet. */
function operations(random: () => number, client: number, run: string): Planned[] {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const parents = ['', ...FOLDERS];
  // Mostly files: a folder's rename, move or delete takes everything in it along, and ends most other plans.
  const entry = (folders: number): { path: string; type: EntryType } =>
    random() < folders ? { path: pick(FOLDERS), type: 'folder' } : { path: pick(FILES), type: 'file' };
  const draw = (i: number): Op => {
    const content = `${run} client ${client} op ${i}`;
    const r = random();
    if (r < 0.25) return { kind: 'upload', parent: pick(parents), name: pick(NAMES), content };
    if (r < 0.5) return { kind: 'replace', path: pick(FILES), content };
    if (r < 0.65) return { kind: 'rename', ...entry(0.3), name: pick(NAMES) };
    if (r < 0.8) return { kind: 'move', ...entry(0.3), parent: pick(parents) };
    if (r < 0.9) return { kind: 'mkdir', parent: pick(parents), name: pick(NAMES) };
    return { kind: 'delete', ...entry(0.15) };
  };
  return Array.from({ length: OPS_PER_CLIENT }, (_, i): Planned => {
    const op = draw(i);
    const w = random();
    return { op, way: w < 0.1 ? 'large' : w < 0.35 ? 'segments' : 'small', via: random() < 0.5 ? 0 : 1 };
  });
}

const INITIAL: Record<string, string | null> = Object.fromEntries([...FOLDERS.map((p) => [p, null]), ...FILES.map((p) => [p, `first ${p}`])]);

describeWithRedis('random concurrent operations from several clients through two gateway processes', () => {
  let s3: Awaited<ReturnType<typeof externalS3>>;
  let gateways: Running[];
  let urls: string[];
  let token: string;
  /** What each operation with an unknown effect answered, to say why in a failure. */
  const unknowns: string[] = [];

  beforeAll(async () => {
    s3 = await externalS3('concurrency');
    const env = {
      ...s3.env,
      REDIS_URL: testRedisUrl!,
      REDIS_KEY_PREFIX: uniquePrefix('concurrency'),
      DEMO_PASSWORD: PASSWORD,
      DATA_DIR: '/nonexistent-unused',
      LOCK_WAIT_MS: '60000',
      UPLOAD_PART_SIZE: String(PART),
      UPLOAD_SEGMENT_SIZE: String(PART),
      RATE_LIMIT_PER_TOKEN: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
      // The eight clients are one account: its limits on uploads at once are not what is tested here.
      UPLOAD_STREAMS_PER_ACCOUNT: '64',
      UPLOAD_SEGMENTED_MAX_OPEN: '64',
    };
    gateways = [runGateway(env), runGateway(env)];
    urls = await Promise.all(gateways.map((g) => g.url()));
    const signedIn = await fetch(`${urls[0]}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: PASSWORD }) });
    token = ((await signedIn.json()) as Record<string, string>)['gateway.auth.access.token']!;
  }, 60_000);
  afterAll(async () => {
    await Promise.all((gateways ?? []).map((g) => g.stop()));
    await s3?.stop();
  });

  /** One operation through the gateway `via`; its answer's status, or what is known of its effect. */
  async function perform(base: string, runRoot: string, { op, way }: Planned): Promise<Event['status']> {
    const rel = (p: string, type: EntryType) => `${runRoot}${p}${type === 'folder' ? '/' : ''}`;
    const folder = (p: string) => idOf(p === '' ? runRoot : `${runRoot}${p}/`);
    const call = async (method: string, url: string, body?: string | Buffer | object, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...headers },
        body: body === undefined || Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { message?: string } };
    };
    const answer = async (): Promise<{ status: number; body: { message?: string } }> => {
      switch (op.kind) {
        case 'mkdir':
          return call('POST', `/v2/gateway_metadata_folder/${folder(op.parent)}`, { 'gateway.metadata.name': op.name });
        case 'upload':
        case 'replace': {
          const bytes = bytesOf(op.content, way);
          const size = bytes.length;
          const target =
            op.kind === 'upload'
              ? { 'gateway.metadata.parent.id': folder(op.parent), 'gateway.metadata.name': op.name }
              : { 'gateway.metadata.id': idOf(rel(op.path, 'file')) };
          if (way !== 'segments') {
            const url = op.kind === 'upload' ? `/v2/gateway_metadata_file/${folder(op.parent)}` : `/v2/gateway_metadata_file/${idOf(rel(op.path, 'file'))}`;
            const header = { ...(op.kind === 'upload' ? { 'gateway.metadata.name': op.name } : {}), 'gateway.metadata.file.size': size };
            return call(op.kind === 'upload' ? 'POST' : 'PUT', url, bytes, { 'X-Gateway-Upload': JSON.stringify(header) });
          }
          const segment = { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': size, 'gateway.upload.segment.sha256': sha256(bytes) };
          const started = await call('POST', '/v2/gateway_upload', { ...target, 'gateway.metadata.file.size': size, 'gateway.upload.segment': [segment] });
          if (started.status !== 200) return started;
          const id = started.body['gateway.upload.id'] as string;
          const cookie = started.body['gateway.upload.cookie'] as string;
          const planned = (started.body['gateway.upload.segment'] as Array<Record<string, unknown>>)[0]!;
          const sent = await call('POST', `/v2/gateway_upload_segment/${id}`, bytes, {
            'X-Gateway-Upload-Segment': JSON.stringify({ ...planned, 'gateway.upload.cookie': cookie }),
          });
          if (sent.status !== 200) return { status: 500, body: sent.body };
          const { 'gateway.upload.cookie': _, ...done } = sent.body;
          const finish = {
            ...(op.kind === 'upload' ? { 'gateway.metadata.name': op.name } : {}),
            'gateway.metadata.file.size': size,
            'gateway.upload.id': id,
            'gateway.upload.cookie': cookie,
            'gateway.upload.segment': [done],
          };
          return op.kind === 'upload'
            ? call('POST', `/v2/gateway_metadata_upload/${folder(op.parent)}`, finish)
            : call('PUT', `/v2/gateway_metadata_upload/${idOf(rel(op.path, 'file'))}`, finish);
        }
        case 'rename':
          return call('PUT', `/v2/gateway_metadata_name/${idOf(rel(op.path, op.type))}`, { 'new.gateway.metadata.name': op.name });
        case 'move':
          return call('PUT', `/v2/gateway_metadata_parent/${idOf(rel(op.path, op.type))}`, { 'new.gateway.metadata.parent.id': folder(op.parent) });
        case 'delete':
          return call('DELETE', `/v2/gateway_metadata/${idOf(rel(op.path, op.type))}`);
      }
    };
    try {
      const res = await answer();
      // Refused before doing anything: its turn did not come in time, or a folder job it would touch is under way.
      if (res.status === 503 && /still running|being finished|Too many folder operations/.test(res.body.message ?? '')) return 'none';
      if (res.status === 409 && /is under way; try again once it is done/.test(res.body.message ?? '')) return 'none';
      if (res.status < 500) return res.status;
      unknowns.push(`${res.status} ${res.body.message ?? ''}`);
      return 'unknown';
    } catch (err) {
      unknowns.push(String(err));
      return 'unknown';
    }
  }

  /** The bucket under the run's folder as a tree, checking each stored hash on the way. */
  async function finalTree(runRoot: string): Promise<{ tree: Tree; badHashes: string[] }> {
    const tree = new Map<string, Node>();
    const badHashes: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: runRoot, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const rel = o.Key!.slice(runRoot.length);
        const parts = rel.replace(/\/$/, '').split('/');
        // every folder on the way exists, marker or not
        for (let i = 1; i < parts.length; i++) tree.set(parts.slice(0, i).join('/'), { type: 'folder' });
        if (rel === '') continue;
        if (rel.endsWith('/')) {
          tree.set(rel.slice(0, -1), { type: 'folder' });
          continue;
        }
        const got = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        const stored = got.Metadata?.['gw-sha256'];
        if (stored !== undefined && stored !== sha256(bytes)) badHashes.push(rel);
        if (tree.get(rel)?.type === 'folder') badHashes.push(`${rel} is a file and a folder`);
        tree.set(rel, { type: 'file', content: labelOf(bytes) });
      }
      token = page.NextContinuationToken;
    } while (token);
    // a file whose name is also a folder's (keys under it) shows up here as a folder overwriting it, or vice versa
    for (const [p, n] of tree) if (n.type === 'file' && [...tree.keys()].some((q) => q.startsWith(`${p}/`))) badHashes.push(`${p} is a file and a folder`);
    return { tree, badHashes };
  }

  it.each(Array.from({ length: RUNS }, (_, i) => i))(
    "random interleavings, run %d: one order of the operations explains every answer and the final bucket, every hash is its bytes', nothing is left half-done",
    async (run) => {
      const seed = Number(process.env.CONCURRENCY_SEED ?? randomInt(2 ** 31));
      // a repeated seed still starts from an empty folder
      const runRoot = `concurrency-${seed}-${run}-${Date.now().toString(36)}/`;
      const random = seeded(seed);
      const initial: Tree = new Map(
        Object.entries(INITIAL).map(([p, c]): [string, Node] => [p, c === null ? { type: 'folder' } : { type: 'file', content: c }]),
      );
      await Promise.all(
        Object.entries(INITIAL).map(([p, c]) =>
          s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${runRoot}${p}${c === null ? '/' : ''}`, Body: Buffer.from(c ?? '') })),
        ),
      );
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: runRoot, Body: Buffer.alloc(0) }));
      const plans = Array.from({ length: CLIENTS }, (_, client) => operations(random, client, runRoot));
      const history: Array<Event & { way: Way; via: number }> = [];
      const started = performance.now();
      await Promise.all(
        plans.map(async (planned, client) => {
          for (const p of planned) {
            const start = performance.now() - started;
            const status = await perform(urls[p.via]!, runRoot, p);
            history.push({ client, op: p.op, way: p.way, via: p.via, start, end: performance.now() - started, status });
          }
        }),
      );
      const { tree, badHashes } = await finalTree(runRoot);
      const verdict = linearize(initial, history, tree);
      const file = path.join(tmpdir(), 'gateway-concurrency', `${seed}-${run}.json`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(
        file,
        JSON.stringify({ seed, target: realS3 ? 'real S3' : 'embedded', initial: INITIAL, history, final: treeKey(tree), verdict }, null, 1),
      );
      const where = `(seed ${seed}; history in ${file})`;
      expect({ verdict: verdict.ok ? 'explained' : verdict.reason, where }).toEqual({ verdict: 'explained', where });
      expect({ badHashes, where }).toEqual({ badHashes: [], where });
      const unknown = history.filter((e) => e.status === 'unknown');
      // with the gateways' own account of what went wrong, so that a failure says why
      const errors = unknown.length ? gateways.flatMap((g) => `${g.stdout()}\n${g.stderr()}`.split('\n').filter((l) => /error|warn/i.test(l))) : [];
      expect({ unknown, unknowns, errors }).toEqual({ unknown: [], unknowns: [], errors: [] });
      // every multipart upload was completed or aborted, none left open
      expect((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: runRoot }))).Uploads ?? []).toEqual([]);
      expect(history.filter((e) => e.way !== 'small' && e.status === 200).length).toBeGreaterThan(0);
      // the clients did meet: some operations were refused for a name another one took or removed
      expect(history.filter((e) => e.status === 409 || e.status === 404).length).toBeGreaterThan(0);
      expect(history.filter((e) => e.status === 200).length).toBeGreaterThan(0);
    },
    120_000,
  );
});
