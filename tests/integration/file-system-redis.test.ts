import { byName, idOf, listAll, seed, signIn, uniqueRoot } from '../support/api.js';
import { sameS3, startTestGateway } from '../support/gateway.js';
import { describeWithRedis } from '../support/targets.js';

describeWithRedis('browsing with Redis as the session store', () => {
  it('shares the metadata cache and folder-move journal between two gateway instances', async () => {
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
      b.bucket.client.middlewareStack.add(
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
      await request(b.runtime.app).get(`/v2/gateway_metadata/${idOf('docs/one.txt')}`).set('Authorization', `Bearer ${ca.token}`).expect(200);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
