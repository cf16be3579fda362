import { binary, byName, idOf, keysUnder, listAll, names, seed, segmentsOf, signIn, uniqueRoot, type Client } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { externalS3, waitFor } from '../support/processes.js';
import { s3Gate, type S3GateHandle } from '../support/s3-gate.js';
import { describeWithRedis, uniquePrefix } from '../support/targets.js';

/**
 * Folder moves as jobs, seen from two gateway instances on one Redis: the job is held still half-way (its
 * copies stopped at the S3 gate) while the test looks at it from the other instance.
 */
describeWithRedis('a folder move under way', () => {
  let s3: Awaited<ReturnType<typeof externalS3>>;
  let gate: S3GateHandle;
  let a: TestGateway;
  let b: TestGateway;
  let ca: Client;
  let cb: Client;
  const root = uniqueRoot('jobs');

  beforeAll(async () => {
    s3 = await externalS3('folder-jobs');
    gate = await s3Gate(s3.env.S3_ENDPOINT!);
    const env = {
      ...s3.env,
      S3_ENDPOINT: gate.url,
      REDIS_KEY_PREFIX: uniquePrefix('jobs'),
      COPY_CONCURRENCY: '2',
      FOLDER_JOB_WAIT_MS: '1000',
      LIST_PAGE_SIZE: '7',
      LOCK_WAIT_MS: '60000',
    };
    a = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env });
    b = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env });
    [ca, cb] = [await signIn(a.runtime.app, 'tester'), await signIn(b.runtime.app, 'tester')];
  });
  /** Lets go of what a test holds at the gate, so that a failed test does not hold the jobs (and the stop) forever. */
  let release = () => undefined as void;
  afterEach(() => release());
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await gate?.close();
    await s3?.stop();
  });

  const files = Array.from({ length: 30 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`);
  const keys = async (rel: string) => (await keysUnder(a.bucket, root + rel)).map((k) => k.slice(root.length));
  const download = async (c: Client, rel: string) =>
    (
      await c
        .get(`/v2/gateway_file/${idOf(rel)}`)
        .buffer(true)
        .parse(binary)
        .expect(200)
    ).body as Buffer;
  const move = (c: Client, rel: string, parent: string) =>
    c.put(`/v2/gateway_metadata_parent/${idOf(rel)}`, { 'new.gateway.metadata.parent.id': idOf(parent) });

  it('answers in bounded time, then every instance shows it done: source gone, target whole, writes after it, conflicts 409', async () => {
    for (const f of files) await seed(a.bucket, [`${root}p/src/${f}`], { body: `content of ${f}` });
    await seed(a.bucket, [`${root}p/src/sub/deep.txt`, `${root}p/src/sub2/`, `${root}p/a.txt`, `${root}p/zz/z.txt`, `${root}dest/`, `${root}dest/b.txt`]);
    const objects = files.length + 2;
    // S3 copies the first twelve objects, then holds the rest until the test lets them go.
    let copies = 0;
    const held = gate.hold((c) => c.operation === 'CopyObject' && c.key.includes('/dest/src/') && ++copies > 12);
    release = () => held.release();
    const copiesBefore = gate.calls.filter((c) => c.operation === 'CopyObject').length;

    const moved = await move(ca, 'p/src/', 'dest/').expect(200);
    expect(moved.body).toMatchObject({
      'gateway.metadata.id': idOf('dest/src/'),
      'gateway.metadata.parent.id': idOf('dest/'),
      'gateway.metadata.type': 'folder',
    });
    await held.arrived();
    expect(await keys('p/src/')).toHaveLength(objects); // nothing deleted yet: the job is mid-page

    // The other instance shows the move done.
    expect(names((await listAll(cb, idOf('p/'))).entries)).toEqual(['a.txt', 'zz']);
    const destTop = (await listAll(cb, idOf('dest/'))).entries;
    expect(names(destTop)).toEqual(['b.txt', 'src']);
    expect(byName(destTop, 'src')).toMatchObject({ 'gateway.metadata.id': idOf('dest/src/'), 'gateway.metadata.type': 'folder' });
    for (const gone of ['p/src/', 'p/src/f00.txt', 'p/src/f29.txt']) await cb.get(`/v2/gateway_metadata/${idOf(gone)}`).expect(404);
    await cb.get(`/v2/gateway_metadata_children/${idOf('p/src/')}`).expect(404);
    await cb.get(`/v2/gateway_file/${idOf('p/src/f29.txt')}`).expect(404);
    // The target, page by page (seven entries a page), each entry once, copied or not.
    const target = await listAll(cb, idOf('dest/src/'));
    expect(target.pages).toBeGreaterThan(4);
    expect(names(target.entries)).toEqual([...files, 'sub', 'sub2']);
    expect(new Set(target.entries.map((e) => e['gateway.metadata.id'])).size).toBe(target.entries.length);
    for (const e of target.entries) expect(e['gateway.metadata.parent.id']).toBe(idOf('dest/src/'));
    expect(names((await listAll(cb, idOf('dest/src/sub/'))).entries)).toEqual(['deep.txt']);
    const notCopied = await cb.get(`/v2/gateway_metadata/${idOf('dest/src/f29.txt')}`).expect(200);
    expect(notCopied.body).toMatchObject({ 'gateway.metadata.name': 'f29.txt', 'gateway.metadata.file.size': 'content of f29.txt'.length });
    expect((await download(cb, 'dest/src/f29.txt')).toString()).toBe('content of f29.txt');
    expect((await download(cb, 'dest/src/f00.txt')).toString()).toBe('content of f00.txt');
    await cb.get(`/v2/gateway_metadata/${idOf('dest/src/')}`).expect(200);

    // Another operation on the source or the target: 409. The same move again: it joins the job.
    await cb.put(`/v2/gateway_metadata_name/${idOf('p/src/')}`, { 'new.gateway.metadata.name': 'other' }).expect(409);
    await cb.put(`/v2/gateway_metadata_name/${idOf('dest/src/')}`, { 'new.gateway.metadata.name': 'other' }).expect(409);
    await move(cb, 'dest/', 'p/').expect(409);
    await cb.del(`/v2/gateway_metadata/${idOf('p/')}`).expect(409);
    const joined = await move(cb, 'p/src/', 'dest/').expect(200);
    expect(joined.body).toEqual(moved.body);
    expect(await a.runtime.folderJobs.activeIn(a.bucket.scope, true)).toHaveLength(1);

    // A write into the target waits for the job, and lands where the client meant it.
    const write = cb.post(`/v2/gateway_metadata_folder/${idOf('dest/src/sub/')}`, { 'gateway.metadata.name': 'made during the move' }).then((r) => r);
    // So does a replace of a file not copied yet: it is found (in the source) and replaced in the target.
    const replace = cb
      .put(`/v2/gateway_metadata_file/${idOf('dest/src/f29.txt')}`)
      .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.file.size': 'replaced during the move'.length }))
      .send('replaced during the move')
      .then((r) => r);
    await waitFor(async () => b.runtime.locks.waiting >= 2, 'both writes to wait for the job');
    // A segmented upload that will replace a file not copied yet is checked against the moved folder too.
    const body = Buffer.from('in segments');
    const started = await cb
      .post('/v2/gateway_upload', {
        'gateway.metadata.id': idOf('dest/src/f28.txt'),
        'gateway.metadata.file.size': body.length,
        'gateway.upload.segment': segmentsOf([body]),
      })
      .expect(200);
    held.release();
    expect((await write).status).toBe(200);
    expect((await replace).status).toBe(200);
    expect((await download(ca, 'dest/src/f29.txt')).toString()).toBe('replaced during the move');
    await cb.del(`/v2/gateway_upload/${String(started.body['gateway.upload.id'])}`).expect(200);
    await Promise.all([a.runtime.folderJobs.idle(), b.runtime.folderJobs.idle()]);

    expect(await keys('p/')).toEqual(['p/a.txt', 'p/zz/z.txt']);
    expect(await keys('dest/src/')).toEqual(
      [...files.map((f) => `dest/src/${f}`), 'dest/src/sub/deep.txt', 'dest/src/sub/made during the move/', 'dest/src/sub2/'].sort(),
    );
    // Each object copied once, joined request or not.
    expect(gate.calls.filter((c) => c.operation === 'CopyObject').length - copiesBefore).toBe(objects);
    expect(await a.runtime.folderJobs.activeIn(a.bucket.scope, true)).toEqual([]);
    // And after the end, both instances agree with S3.
    expect(names((await listAll(ca, idOf('dest/src/'))).entries)).toEqual(names(target.entries));
    expect(names((await listAll(cb, idOf('p/'))).entries)).toEqual(['a.txt', 'zz']);
  });

  it('deletes a folder as a job: gone at once for every instance, its parent kept', async () => {
    for (const f of files) await seed(a.bucket, [`${root}del/big/${f}`]);
    let deletes = 0;
    const held = gate.hold((c) => c.operation === 'DeleteObjects' && ++deletes === 1);
    release = () => held.release();
    await ca.del(`/v2/gateway_metadata/${idOf('del/big/')}`).expect(200);
    await held.arrived();
    expect(await keys('del/big/')).toHaveLength(files.length);
    await cb.get(`/v2/gateway_metadata/${idOf('del/big/')}`).expect(404);
    expect((await listAll(cb, idOf('del/'))).entries).toEqual([]);
    await cb.get(`/v2/gateway_metadata/${idOf('del/')}`).expect(200);
    held.release();
    await a.runtime.folderJobs.idle();
    expect(await keys('del/')).toEqual(['del/']);
  });

  it('a rename or move to where an entry already is answers as readers see it while a folder move is under way', async () => {
    await seed(a.bucket, [`${root}same/src/f.txt`, `${root}same/dst/`]);
    let deletes = 0;
    const held = gate.hold((c) => c.operation === 'DeleteObjects' && ++deletes === 1);
    release = () => held.release();
    await move(ca, 'same/src/', 'same/dst/').expect(200);
    await held.arrived();
    expect(await keys('same/src/')).toEqual(['same/src/f.txt']); // still in S3, gone for readers
    for (const c of [ca, cb]) {
      await c.put(`/v2/gateway_metadata_name/${idOf('same/src/f.txt')}`, { 'new.gateway.metadata.name': 'f.txt' }).expect(404);
      await move(c, 'same/src/f.txt', 'same/src/').expect(404);
      const there = await c.put(`/v2/gateway_metadata_name/${idOf('same/dst/src/f.txt')}`, { 'new.gateway.metadata.name': 'f.txt' }).expect(200);
      expect(there.body).toMatchObject({ 'gateway.metadata.id': idOf('same/dst/src/f.txt'), 'gateway.metadata.parent.id': idOf('same/dst/src/') });
    }
    held.release();
    await a.runtime.folderJobs.idle();
  });

  it('a write that waited for its names checks the bucket as it is then, not as the jobs of when it came showed it', async () => {
    await seed(a.bucket, [`${root}stale/B/f.txt`]);
    // A rename of stale/B that is under way (its deletes held): the view it gives keeps stale/ a folder.
    let deletes = 0;
    const held = gate.hold((c) => c.operation === 'DeleteObjects' && ++deletes === 1);
    release = () => held.release();
    await ca.put(`/v2/gateway_metadata_name/${idOf('stale/B/')}`, { 'new.gateway.metadata.name': 'y' }).expect(200);
    await held.arrived();
    // A new folder in stale/ comes now (and is given that view), then waits for its name.
    let letGo = () => undefined as void;
    const name = a.runtime.locks.run(a.bucket.scope, [`${root}stale/z/`], () => new Promise<void>((r) => (letGo = r)));
    const prior = release;
    release = () => (letGo(), prior());
    const mkdir = ca.post(`/v2/gateway_metadata_folder/${idOf('stale/')}`, { 'gateway.metadata.name': 'z' }).then((r) => r.status);
    await waitFor(() => a.runtime.locks.waiting >= 1, 'the new folder to wait for its name');
    // Meanwhile the rename ends, and another S3 client empties stale/: the folder is gone.
    held.release();
    await a.runtime.folderJobs.idle();
    await a.bucket.deleteMany(await keysUnder(a.bucket, `${root}stale/`));
    letGo();
    await name;
    // Before, the view of when it came (a kept parent) let it make stale/z/, and stale/ with it.
    expect(await mkdir).toBe(404);
    expect(await keys('stale/')).toEqual([]);
  });

  it('two copies of one folder delete on one instance, both sent while its names are held: the first deletes it, the other joins or is checked afresh', async () => {
    await seed(a.bucket, [`${root}twice/x.txt`, `${root}twice/sub/y.txt`]);
    let letGo = () => undefined as void;
    const held = a.runtime.locks.run(a.bucket.scope, [`${root}twice/x.txt`], () => new Promise<void>((r) => (letGo = r)));
    release = () => letGo();
    const remove = async () => (await ca.del(`/v2/gateway_metadata/${idOf('twice/')}`)).status;
    const first = remove();
    await waitFor(() => a.runtime.locks.waiting >= 1, 'the first delete to wait for the names');
    const second = remove();
    await waitFor(() => a.runtime.locks.waiting + a.runtime.folderJobs.copiesWaiting >= 2, 'the second delete to wait');
    letGo();
    await held;
    // The first answers for its own job: before, it answered with the second's check (404, the folder being gone).
    expect(await first).toBe(200);
    expect([200, 404]).toContain(await second);
    await a.runtime.folderJobs.idle();
    expect(await keys('twice/')).toEqual([]);
  });
});

describeWithRedis('folder jobs of a gateway that stops, and the bound on them', () => {
  it('hands its job over once its copies under way are done, and another instance finishes it; one job too many is 503', async () => {
    const root = uniqueRoot('jobs-stop');
    const s3 = await externalS3('folder-jobs-stop');
    const gate = await s3Gate(s3.env.S3_ENDPOINT!);
    const env = {
      ...s3.env,
      S3_ENDPOINT: gate.url,
      REDIS_KEY_PREFIX: uniquePrefix('jobs-stop'),
      FOLDER_JOB_WAIT_MS: '1000',
      FOLDER_JOBS_MAX: '1',
      LOCK_LEASE_MS: '3000',
    };
    const a = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env });
    const b = await startTestGateway({ store: 'redis', users: [{ name: 'tester', root }], env });
    let copies = 0;
    const held = gate.hold((c) => c.operation === 'CopyObject' && ++copies > 5);
    try {
      await seed(a.bucket, [...Array.from({ length: 40 }, (_, i) => `${root}s/f${i}.txt`), `${root}t/`, `${root}o/x.txt`]);
      const ca = await signIn(a.runtime.app, 'tester');
      await ca.put(`/v2/gateway_metadata_parent/${idOf('s/')}`, { 'new.gateway.metadata.parent.id': idOf('t/') }).expect(200);
      await held.arrived();
      // FOLDER_JOBS_MAX=1: a second job on this instance waits for a place.
      const refused = await ca.put(`/v2/gateway_metadata_name/${idOf('o/')}`, { 'new.gateway.metadata.name': 'p' }).expect(503);
      expect(refused.headers['retry-after']).toBe('5');
      // a stops: its job ends once the copies under way (held at S3 until now) are done, and is left for another instance.
      const closing = a.close();
      held.release();
      await closing;
      const scope = b.bucket.scope;
      expect(await b.runtime.folderJobs.activeIn(scope, true)).toHaveLength(1);
      await waitFor(async () => (await b.runtime.folderJobs.activeIn(scope, true)).length === 0, 'the other instance to finish the job', 30_000);
      await b.runtime.folderJobs.idle();
      expect(b.logLines.some((l) => l.includes('resuming a folder job'))).toBe(true);
      const keys = (await keysUnder(b.bucket, root)).map((k) => k.slice(root.length));
      expect(keys).toEqual([...Array.from({ length: 40 }, (_, i) => `t/s/f${i}.txt`), 'o/x.txt', 't/'].sort());
    } finally {
      held.release();
      await Promise.all([a.close(), b.close()]);
      await gate.close();
      await s3.stop();
    }
  });
});
