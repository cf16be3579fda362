import request from 'supertest';
import { DEMO_PASSWORD, startTestGateway } from '../support/gateway.js';
import { type MemorySessionStore } from '../../src/storage/session-store/memory.js';

/** Without Redis, sign-ins cannot grow the gateway's memory without bound: the in-process store has one. */
describe('the in-process session store of a running gateway', () => {
  it('stays within MEMORY_STORE_MAX_BYTES however many sign-ins it gets; the least recently used sessions end', async () => {
    const maxBytes = 64 * 1024;
    const gw = await startTestGateway({ store: 'memory', env: { MEMORY_STORE_MAX_BYTES: String(maxBytes), SIGNIN_ADDRESS_MAX_ATTEMPTS: '100000' } });
    try {
      const app = gw.runtime.app;
      const signIn = async () =>
        ((await request(app).post('/v2/gateway_auth').send({ user: 'demo', password: DEMO_PASSWORD }).expect(200)).body as Record<string, string>)[
          'gateway.auth.access.token'
        ]!;
      const works = async (token: string) => (await request(app).get('/v2/gateway_metadata/root').set('Authorization', `Bearer ${token}`)).status;
      const first = await signIn();
      const used = await signIn();
      let last = '';
      for (let i = 0; i < 200; i++) {
        last = await signIn();
        if (i % 20 === 0) expect(await works(used)).toBe(200);
      }
      const store = gw.runtime.store as MemorySessionStore;
      expect(store.heldBytes).toBeLessThanOrEqual(maxBytes + maxBytes / 4);
      expect(await works(first)).toBe(401);
      expect(await works(used)).toBe(200);
      expect(await works(last)).toBe(200);
    } finally {
      await gw.close();
    }
  }, 60_000);
});
