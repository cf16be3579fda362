import { byName, idOf, keysUnder, listAll, seed, signIn, uniqueRoot, type Client } from '../support/api.js';
import { sameS3, startTestGateway } from '../support/gateway.js';
import { externalS3 } from '../support/processes.js';
import { s3Gate } from '../support/s3-gate.js';
import { describeWithRedis, uniquePrefix } from '../support/targets.js';
import { addMiddleware } from '../support/s3-middleware.js';

describeWithRedis('browsing with Redis as the session store', () => {
  it('shares the metadata cache and sessions between two gateway instances', async () => {
    const root = uniqueRoot('redis-fs');
    const a = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }] });
    const prefix = a.runtime.config.redis.keyPrefix;
    const b = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env: { ...sameS3(a), REDIS_KEY_PREFIX: prefix } });
    try {
      await seed(a.bucket, [`${root}docs/one.txt`, `${root}docs/two.txt`], { metadata: { 'gw-modified': '1357924680000' } });
      const ca = await signIn(a.runtime.app, 'tester');
      const first = await listAll(ca, idOf('docs/'));
      expect(byName(first.entries, 'one.txt')!['gateway.metadata.modified']).toBe(1357924680000);

      // The second instance finds the cached facts: it never needs a HEAD for these versions.
      let heads = 0;
      addMiddleware(
        b.bucket.client,
        (next, context) => async (args) => {
          if (context.commandName === 'HeadObjectCommand') heads++;
          return next(args);
        },
        { step: 'initialize', name: 'countHeads' },
      );
      const cb = await signIn(b.runtime.app, 'tester');
      const second = await listAll(cb, idOf('docs/'));
      expect(second.entries).toEqual(first.entries);
      expect(heads).toBe(0);

      // A session from instance a works on instance b too.
      const { default: request } = await import('supertest');
      await request(b.runtime.app)
        .get(`/v2/gateway_metadata/${idOf('docs/one.txt')}`)
        .set('Authorization', `Bearer ${ca.token}`)
        .expect(200);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('finishes on the other instance a folder move that S3 failed half-way on one', async () => {
    const root = uniqueRoot('journal');
    const s3 = await externalS3('journal');
    const gate = await s3Gate(s3.env.S3_ENDPOINT!);
    const env = { ...s3.env, S3_ENDPOINT: gate.url, REDIS_KEY_PREFIX: uniquePrefix('journal'), COPY_CONCURRENCY: '4', S3_MAX_ATTEMPTS: '1' };
    const [a, b] = [
      await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env }),
      await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env }),
    ];
    try {
      const tree = Array.from({ length: 30 }, (_, i) => `${root}src/f${String(i).padStart(2, '0')}.txt`);
      await seed(a.bucket, [...tree, `${root}dest/`]);
      const keys = async (rel: string) => (await keysUnder(a.bucket, root + rel)).map((k) => k.slice(root.length));
      const move = (c: Client) => c.put(`/v2/gateway_metadata_parent/${idOf('src/')}`, { 'new.gateway.metadata.parent.id': idOf('dest/') });
      // S3 refuses every copy after the tenth (503 SlowDown): the move on a stops half-way.
      let copies = 0;
      const copiesSeen = () => gate.calls.filter((c) => c.operation === 'CopyObject').length;
      const healed = gate.fail((c) => c.operation === 'CopyObject' && ++copies > 10, 503, 'SlowDown');
      const failed = await move(await signIn(a.runtime.app, 'tester'));
      // By its answer the move has stopped: no copy after the refused ones starts (four were under way).
      const copiesBeforeAnswer = copiesSeen();
      expect(copiesBeforeAnswer).toBeLessThanOrEqual(10 + 4);
      healed();
      expect(failed.status).toBe(503);
      expect(await keys('src/')).toHaveLength(30);
      expect((await keys('dest/src/')).length).toBeGreaterThanOrEqual(10); // half-made: a plain retry would be 409
      // The same request on the other instance joins the job, which it takes up again from where it stopped.
      await move(await signIn(b.runtime.app, 'tester')).expect(200);
      await b.runtime.folderJobs.idle();
      // nothing of a's move ran on behind its answer, and b copies only what a had not (a copied 10): one copy per object
      expect(copiesSeen() - copiesBeforeAnswer).toBe(20);
      expect(await keys('src/')).toEqual([]);
      expect(await keys('dest/src/')).toEqual(tree.map((k) => `dest/${k.slice(root.length)}`));
    } finally {
      await Promise.all([a.close(), b.close()]);
      await gate.close();
      await s3.stop();
    }
  });
});
