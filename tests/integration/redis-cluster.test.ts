import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import calculateSlot from 'cluster-key-slot';
import { storeKeys } from '../../src/core/store-keys.js';
import { RedisSessionStore } from '../../src/storage/session-store/redis.js';
import { segmentsOf } from '../support/api.js';
import { externalS3, runGateway, type Running } from '../support/processes.js';
import { findRedisCli, REDIS_CLI_HINT, startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { findRedisServer, REDIS_HINT } from '../support/redis-server.mjs';
import { uniquePrefix } from '../support/targets.js';

const MiB = 1024 * 1024;
const PASSWORD = 'cluster-test-password';
/** Requests per token and minute: above what the paced traffic during the failovers sends (at most 40 a second). */
const LIMIT = 1500;
const serverBin = findRedisServer();
const cliBin = findRedisCli();
// As every Redis-backed test: skipped (with the hint) only locally, where the README allows it.
const required = process.env.REQUIRE_REDIS === '1' || Boolean(process.env.CI);
const describeWithCluster = (serverBin && cliBin) || required ? describe : describe.skip;
if (!(serverBin && cliBin) && !required)
  process.stderr.write(`\n[tests] ${serverBin ? REDIS_CLI_HINT : REDIS_HINT}\n[tests] Redis Cluster tests are SKIPPED.\n`);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describeWithCluster('Redis Cluster (three masters, a replica each)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    if (!serverBin || !cliBin) throw new Error(`The Redis Cluster tests must run here: ${serverBin ? REDIS_CLI_HINT : REDIS_HINT}`);
    cluster = await startRedisCluster(serverBin, cliBin);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps the store contract across slots: many keys read and deleted in one call, locks, limits counted once across instances', async () => {
    const prefix = uniquePrefix('cluster-store');
    const open = async () => {
      const s = new RedisSessionStore({
        url: cluster.env.REDIS_URL,
        clusterNodes: cluster.nodes.slice(0, 2),
        keyPrefix: prefix,
        commandTimeoutMs: 2000,
      });
      await s.connect();
      return s;
    };
    const [a, b] = [await open(), await open()];
    try {
      // 300 unrelated keys fall in many slots (a cluster refuses MGET and DEL across slots)
      const keys = Array.from({ length: 300 }, (_, i) => `k${i}:${randomBytes(4).toString('hex')}`);
      const masters = new Set(await Promise.all(keys.slice(0, 30).map((k) => cluster.masterOf(prefix + k))));
      expect(masters.size).toBe(3);
      await Promise.all(keys.flatMap((k, i) => (i % 3 === 0 ? [] : [a.set(k, `v${i}`, 60_000)])));
      expect(await b.getMany(keys)).toEqual(keys.map((_, i) => (i % 3 === 0 ? null : `v${i}`)));
      await b.delete(...keys);
      expect(await a.getMany(keys)).toEqual(keys.map(() => null));

      // one upload's keys share a hash tag: the multi-key reads the gateway makes stay in one slot
      const upload = randomBytes(16).toString('base64url');
      const uploadKeys = [storeKeys.upload(upload), storeKeys.uploadStarting(upload), ...[1, 2, 9999].map((n) => storeKeys.uploadPart(upload, n))];
      expect(new Set(uploadKeys.map((k) => calculateSlot(prefix + k))).size).toBe(1);
      expect(new Set(await Promise.all(uploadKeys.map((k) => cluster.masterOf(prefix + k)))).size).toBe(1);

      // locks: all-or-nothing over several nodes, seen by both instances
      const t1 = await a.acquireLocks(
        'bucket-1',
        [
          { node: 'x', mode: 'X' },
          { node: 'y', mode: 'S' },
        ],
        10_000,
      );
      expect(t1).toBeGreaterThan(0);
      expect(await b.acquireLocks('bucket-1', [{ node: 'y', mode: 'S' }], 10_000)).toBeGreaterThan(0);
      expect(await b.acquireLocks('bucket-1', [{ node: 'x', mode: 'S' }], 10_000)).toBe(0);
      await a.releaseLocks('bucket-1', t1, ['x', 'y']);
      expect(await b.acquireLocks('bucket-1', [{ node: 'x', mode: 'X' }], 10_000)).toBeGreaterThan(0);

      // a limiter's count is one count, whichever instance consumes
      const limits = [a, b].map((s) => s.rateLimiter({ name: 'cluster-rl', points: 4, durationSec: 60 }));
      for (let i = 0; i < 4; i++) await limits[i % 2]!.consume('who');
      await expect(limits[0]!.consume('who')).rejects.toMatchObject({ msBeforeNext: expect.any(Number) });
      await expect(limits[1]!.consume('who')).rejects.toMatchObject({ msBeforeNext: expect.any(Number) });
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  describe('two gateway processes on the cluster', () => {
    let s3: Awaited<ReturnType<typeof externalS3>>;
    let gateways: Running[];
    let urls: string[];
    const prefix = uniquePrefix('cluster-gw');
    beforeAll(async () => {
      s3 = await externalS3('redis-cluster');
      const env = {
        ...s3.env,
        ...cluster.env,
        REDIS_KEY_PREFIX: prefix,
        DEMO_PASSWORD: PASSWORD,
        DATA_DIR: '/nonexistent-unused',
        UPLOAD_SEGMENT_SIZE: String(5 * MiB),
        RATE_LIMIT_PER_TOKEN: String(LIMIT),
        RATE_LIMIT_PER_ADDRESS: '0',
        // A coordinated failover pauses the shard's clients until the replica has taken over: commands
        // wait (about a second here) rather than fail, as long as this is longer (see the README).
        REDIS_COMMAND_TIMEOUT_MS: '5000',
      };
      gateways = [runGateway(env), runGateway(env)];
      urls = await Promise.all(gateways.map((g) => g.url()));
    }, 60_000);
    afterAll(async () => {
      await Promise.all((gateways ?? []).map((g) => g.stop()));
      await s3?.stop();
    });

    const call = async (base: string, token: string, method: string, url: string, body?: Buffer | object, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...headers },
        body: body === undefined || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const signIn = async (base: string) => {
      const res = await fetch(`${base}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: PASSWORD }) });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, string>;
    };

    it('sessions and a segmented upload in flight survive a failover of every master; limits still count once', async () => {
      const session = await signIn(urls[0]!);
      let token = session['gateway.auth.access.token']!;
      const rootId = session['gateway.auth.metadata.id']!;
      const folder = `cluster-${randomBytes(4).toString('hex')}`;
      const made = await call(urls[0]!, token, 'POST', `/v2/gateway_metadata_folder/${rootId}`, { 'gateway.metadata.name': folder });
      expect(made.status).toBe(200);
      const folderId = made.body['gateway.metadata.id'] as string;

      // a segmented upload: the first segment before the failovers, the second and the finish after
      const bytes = randomBytes(10 * MiB);
      const parts = [bytes.subarray(0, 5 * MiB), bytes.subarray(5 * MiB)];
      const started = await call(urls[0]!, token, 'POST', '/v2/gateway_upload', {
        'gateway.metadata.parent.id': folderId,
        'gateway.metadata.name': 'big.bin',
        'gateway.metadata.file.size': bytes.length,
        'gateway.upload.segment': segmentsOf(parts),
      });
      expect(started.status).toBe(200);
      const uploadId = started.body['gateway.upload.id'] as string;
      const cookie = started.body['gateway.upload.cookie'] as string;
      const planned = started.body['gateway.upload.segment'] as Array<Record<string, unknown>>;
      const sendSegment = async (base: string, i: number) => {
        const sent = await call(base, token, 'POST', `/v2/gateway_upload_segment/${uploadId}`, parts[i], {
          'X-Gateway-Upload-Segment': JSON.stringify({ ...planned[i], 'gateway.upload.cookie': cookie }),
        });
        expect(sent.status).toBe(200);
        const { 'gateway.upload.cookie': _, ...done } = sent.body;
        return done;
      };
      const first = await sendSegment(urls[0]!, 0);

      // requests keep arriving at both instances while every master hands over to its replica
      const statuses = new Map<number, number>();
      let failingOver = true;
      const traffic = (async () => {
        for (let i = 0; failingOver; i++) {
          const res = await call(urls[i % 2]!, token, 'GET', `/v2/gateway_metadata/${folderId}`);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 25)); // paced, to stay under the token's limit
        }
      })();
      const moved: number[] = [];
      try {
        for (const master of await cluster.masters()) moved.push(await cluster.failover(master));
      } finally {
        failingOver = false;
        await traffic;
      }
      expect(new Set(moved).size).toBe(3);
      const failures = gateways.flatMap((g) =>
        g
          .stdout()
          .split('\n')
          .filter((l) => /backend failure|"level":"error"/.test(l)),
      );
      // A request in the moment a demoted master still gets a command may answer 503 with Retry-After
      // (READONLY until the client's slot map follows): never anything else, and never most of them.
      expect([...statuses.keys()].filter((k) => k !== 200 && k !== 503)).toEqual([]);
      expect(statuses.get(503) ?? 0).toBeLessThan((statuses.get(200) ?? 0) / 10);
      expect(failures.filter((l) => !/The session store is temporarily unavailable/.test(l))).toEqual([]);

      // the upload goes on through the other instance, on the new masters
      const second = await sendSegment(urls[1]!, 1);
      const finished = await call(urls[1]!, token, 'POST', `/v2/gateway_metadata_upload/${folderId}`, {
        'gateway.metadata.name': 'big.bin',
        'gateway.metadata.file.size': bytes.length,
        'gateway.upload.id': uploadId,
        'gateway.upload.cookie': cookie,
        'gateway.upload.segment': [first, second],
      });
      expect(finished.status).toBe(200);
      const download = await fetch(`${urls[0]}/v2/gateway_file/${finished.body['gateway.metadata.id'] as string}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(bytes));
      // (only this test's folder: other test files share the bucket and have uploads of their own open)
      expect((await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: `${folder}/` }))).Uploads ?? []).toEqual([]);

      // the session's refresh token, written before the failovers, still works once, on either instance
      const refresh = async (base: string) =>
        fetch(`${base}/v2/gateway_auth_access`, {
          method: 'POST',
          body: JSON.stringify({ 'gateway.auth.refresh.token': session['gateway.auth.refresh.token'] }),
        });
      const refreshed = await refresh(urls[1]!);
      expect(refreshed.status).toBe(200);
      token = ((await refreshed.json()) as Record<string, string>)['gateway.auth.access.token']!;
      expect((await call(urls[0]!, token, 'GET', `/v2/gateway_metadata/${folderId}`)).status).toBe(200);
      // presented again, the spent refresh token is refused and ends its whole family (on this instance at
      // once; on others within SESSION_CACHE_MS, as the README says)
      expect((await refresh(urls[0]!)).status).toBe(403);
      expect((await call(urls[0]!, token, 'GET', `/v2/gateway_metadata/${folderId}`)).status).toBe(401);

      // a token's request limit is counted once across both instances (its counter lives on one shard)
      const other = (await signIn(urls[1]!))['gateway.auth.access.token']!;
      const answers = await Promise.all(Array.from({ length: LIMIT }, (_, i) => call(urls[i % 2]!, other, 'GET', `/v2/gateway_metadata/${folderId}`)));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect((await call(urls[0]!, other, 'GET', `/v2/gateway_metadata/${folderId}`)).status).toBe(429);
      expect((await call(urls[1]!, other, 'GET', `/v2/gateway_metadata/${folderId}`)).status).toBe(429);
    }, 180_000);
  });

  it('speaks TLS to a cluster whose certificates name its hosts (rediss://): sign-in, a new folder, its listing, a refresh', async () => {
    const secure = await startRedisCluster(serverBin!, cliBin!, { tls: true });
    const s3 = await externalS3('redis-cluster-tls');
    const gateway = runGateway({
      ...s3.env,
      ...secure.env,
      REDIS_KEY_PREFIX: uniquePrefix('cluster-tls'),
      DEMO_PASSWORD: PASSWORD,
      DATA_DIR: '/nonexistent-unused',
    });
    try {
      const base = await gateway.url();
      const signedIn = await fetch(`${base}/v2/gateway_auth`, { method: 'POST', body: JSON.stringify({ user: 'demo', password: PASSWORD }) });
      expect(signedIn.status).toBe(200);
      const session = (await signedIn.json()) as Record<string, string>;
      const auth = { Authorization: `Bearer ${session['gateway.auth.access.token']}` };
      const name = `tls-${randomBytes(4).toString('hex')}`;
      const made = await fetch(`${base}/v2/gateway_metadata_folder/${session['gateway.auth.metadata.id']}`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ 'gateway.metadata.name': name }),
      });
      expect(made.status).toBe(200);
      const listed = await fetch(`${base}/v2/gateway_metadata_children/${session['gateway.auth.metadata.id']}`, { headers: auth });
      expect(listed.status).toBe(200);
      expect(JSON.stringify(await listed.json())).toContain(name);
      const refreshed = await fetch(`${base}/v2/gateway_auth_access`, {
        method: 'POST',
        body: JSON.stringify({ 'gateway.auth.refresh.token': session['gateway.auth.refresh.token'] }),
      });
      expect(refreshed.status).toBe(200);
      expect(gateway.stdout()).not.toMatch(/backend failure|"level":"error"/);
    } finally {
      await gateway.stop();
      await s3.stop();
      await secure.stop();
    }
  }, 90_000);
});
