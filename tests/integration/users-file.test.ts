import { readFile, rename, writeFile } from 'node:fs/promises';
import request from 'supertest';
import { hashPassword } from '../../src/core/auth/passwords.js';
import { signIn, uniqueRoot, type Client } from '../support/api.js';
import { startTestGateway, TEST_PASSWORD, type TestGateway } from '../support/gateway.js';
import { waitFor } from '../support/processes.js';

/**
 * The operator changes or removes accounts in USERS_FILE: their sessions end without a restart, on the
 * next check of the file or at once on SIGHUP; accounts left as they were keep theirs.
 */
const NEW_PASSWORD = 'a-new-password-for-alice';

async function rewrite(gw: TestGateway, users: Array<{ name: string; root: string; readOnly?: boolean; password?: string }>) {
  const file = gw.runtime.config.auth.usersFile!;
  // An entry whose password is not changed keeps its hash, as an operator's edit of other lines would.
  const before = (JSON.parse(await readFile(file, 'utf8')) as { users: Array<{ name: string; passwordHash: string }> }).users;
  const records = await Promise.all(
    users.map(async (u) => ({
      name: u.name,
      root: u.root,
      readOnly: u.readOnly ?? false,
      passwordHash: u.password ? await hashPassword(u.password) : before.find((b) => b.name === u.name)!.passwordHash,
    })),
  );
  // Written aside and moved into place, as editors and config management do: never read half-written.
  await writeFile(`${file}.new`, JSON.stringify({ users: records }));
  await rename(`${file}.new`, file);
}

const works = (c: Client) => c.get(`/v2/gateway_metadata/${c.rootId}`).then((r) => r.status);

describe.each([
  ['when the file changes (checked every second)', { USERS_FILE_CHECK_INTERVAL: '1' }, false],
  ['on SIGHUP', { USERS_FILE_CHECK_INTERVAL: '3600' }, true],
] as const)('USERS_FILE is re-read %s', (_when, env, onSignal) => {
  let gw: TestGateway;
  const root = uniqueRoot('users-file');
  beforeAll(async () => {
    gw = await startTestGateway({
      store: 'memory',
      env,
      users: ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name, root: `${root}${name}/` })),
    });
  });
  afterAll(() => gw.close());

  it('ends the sessions of accounts changed or removed in it, and only theirs', async () => {
    const app = gw.runtime.app;
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => signIn(app, n)));
    const aliceRefresh = await request(app).post('/v2/gateway_auth').send({ user: 'alice', password: TEST_PASSWORD }).expect(200);
    for (const c of [alice!, bob!, carol!, dave!]) expect(await works(c)).toBe(200);

    await rewrite(gw, [
      { name: 'alice', root: `${root}alice/`, password: NEW_PASSWORD },
      { name: 'bob', root: `${root}bob/`, readOnly: true },
      { name: 'dave', root: `${root}dave/` },
    ]);
    if (onSignal) await gw.runtime.reloadAccounts();
    await waitFor(async () => (await works(alice!)) === 401, "alice's session to end", 15_000);

    expect(await works(bob!)).toBe(401);
    expect(await works(carol!)).toBe(401);
    expect(await works(dave!)).toBe(200);
    const refresh = await request(app).post('/v2/gateway_auth_access').send({ 'gateway.auth.refresh.token': aliceRefresh.body['gateway.auth.refresh.token'] });
    expect(refresh.status).toBe(403);
    expect(refresh.body.message).toMatch(/changed this account/);
    // The file as it is now decides: the old password is refused, the new one works, bob only reads.
    await request(app).post('/v2/gateway_auth').send({ user: 'alice', password: TEST_PASSWORD }).expect(403);
    await signIn(app, 'alice', NEW_PASSWORD);
    const readOnlyBob = await signIn(app, 'bob');
    await readOnlyBob.post(`/v2/gateway_metadata_folder/${readOnlyBob.rootId}`, { 'gateway.metadata.name': 'nope' }).expect(403);
    await request(app).post('/v2/gateway_auth').send({ user: 'carol', password: TEST_PASSWORD }).expect(403);
  });

  it('keeps the accounts as they were when the new file is broken, and says so in the log', async () => {
    const dave = await signIn(gw.runtime.app, 'dave');
    const file = gw.runtime.config.auth.usersFile!;
    await writeFile(`${file}.new`, '{"users": [ {"name": "dave"');
    await rename(`${file}.new`, file);
    if (onSignal) await gw.runtime.reloadAccounts();
    await waitFor(() => gw.logLines.some((l) => l.includes('users file not re-read')), 'the refusal in the log', 15_000);
    expect(await works(dave)).toBe(200);
  });
});
