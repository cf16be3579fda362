import { createHash } from 'node:crypto';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { storeKeys } from '../../src/core/store-keys.js';
import { idOf, signIn, uniqueRoot } from '../support/api.js';
import { startTestGateway } from '../support/gateway.js';
import { describeWithRealS3 } from '../support/targets.js';
import { addMiddleware } from '../support/s3-middleware.js';

const MiB = 1024 * 1024;

// s3rver has no UploadPartCopy and no multipart listing, so these run only against a real S3.
describeWithRealS3('large objects (real S3 only)', () => {
  it('renames a file above the multipart-copy threshold part by part, content and metadata intact', async () => {
    const root = uniqueRoot('mpcopy');
    const gw = await startTestGateway({
      store: 'memory',
      users: [{ name: 'tester', root }],
      env: { MULTIPART_COPY_THRESHOLD: String(5 * MiB), MULTIPART_COPY_PART_SIZE: String(5 * MiB) },
    });
    try {
      const { client, name: Bucket } = gw.bucket;
      const body = Buffer.alloc(12 * MiB + 123);
      for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
      await client.send(
        new PutObjectCommand({ Bucket, Key: `${root}big.bin`, Body: body, ContentType: 'application/x-test', Metadata: { 'gw-modified': '1600000000000' } }),
      );
      let partCopies = 0;
      addMiddleware(
        client,
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCopyCommand') partCopies++;
          return next(args);
        },
        { step: 'initialize', name: 'countPartCopies' },
      );
      const c = await signIn(gw.runtime.app, 'tester');
      const res = await c.put(`/v2/gateway_metadata_name/${idOf('big.bin')}`, { 'new.gateway.metadata.name': 'bigger.bin' }).expect(200);
      expect(res.body).toMatchObject({ 'gateway.metadata.file.size': body.length, 'gateway.metadata.modified': 1600000000000 });
      expect(partCopies).toBe(3);
      const copied = await client.send(new GetObjectCommand({ Bucket, Key: `${root}bigger.bin` }));
      expect(copied.ContentType).toBe('application/x-test');
      expect(copied.Metadata?.['gw-modified']).toBe('1600000000000');
      const bytes = Buffer.from(await copied.Body!.transformToByteArray());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
      await c.get(`/v2/gateway_metadata/${idOf('big.bin')}`).expect(404);
      const open = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: root }));
      expect(open.Uploads ?? []).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});

describeWithRealS3('the orphaned-upload sweep (real S3 only)', () => {
  it("aborts the gateway's multipart uploads that nothing owns, and leaves other tools' uploads alone", async () => {
    const root = uniqueRoot('sweep');
    const gw = await startTestGateway({ store: 'memory', users: [{ name: 'tester', root }], env: { UPLOAD_SWEEP_INTERVAL: '0' } });
    const { client, name: Bucket } = gw.bucket;
    const open = async () =>
      ((await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: root }))).Uploads ?? []).map((u) => u.Key!.slice(root.length)).sort();
    let foreignId: string | undefined;
    try {
      const c = await signIn(gw.runtime.app, 'tester');
      const start = (name: string) =>
        c
          .post('/v2/gateway_upload', {
            'gateway.metadata.parent.id': c.rootId,
            'gateway.metadata.name': name,
            'gateway.metadata.file.size': 10,
            'gateway.upload.segment': [
              { 'gateway.upload.segment.number': 1, 'gateway.upload.segment.size': 10, 'gateway.upload.segment.sha256': 'a'.repeat(64) },
            ],
          })
          .expect(200);
      const live = await start('live.bin');
      const lost = await start('lost.bin');
      // another tool's upload in the same bucket
      foreignId = (await client.send(new CreateMultipartUploadCommand({ Bucket, Key: `${root}foreign.bin` }))).UploadId;
      expect(await open()).toEqual(['foreign.bin', 'live.bin', 'lost.bin']);

      // The session of one upload ends (as when it expires): the sweep aborts its multipart upload only.
      await gw.runtime.store.delete(storeKeys.upload(lost.body['gateway.upload.id'] as string));
      expect(await gw.runtime.multipartRegistry.sweep()).toBe(1);
      expect(await open()).toEqual(['foreign.bin', 'live.bin']);

      await c.del(`/v2/gateway_upload/${live.body['gateway.upload.id']}`).expect(200);
      expect(await open()).toEqual(['foreign.bin']);
    } finally {
      if (foreignId) await client.send(new AbortMultipartUploadCommand({ Bucket, Key: `${root}foreign.bin`, UploadId: foreignId }));
      await gw.close();
    }
  });
});
