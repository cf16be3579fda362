import { createS3Client } from '../../src/storage/s3/client.js';

/** How the gateway's S3 client differs from a plain SDK client, where that can be seen without an S3. */

const client = () =>
  createS3Client({
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'secret',
    forcePathStyle: true,
    checksums: 'WHEN_REQUIRED',
    maxAttempts: 1,
    maxSockets: 4,
    connectTimeoutMs: 1000,
    requestTimeoutMs: 1000,
  });

type SignerOf = (scheme?: { name?: string; signingName?: string; signingRegion?: string }) => Promise<unknown>;

describe('the S3 client', () => {
  test('makes one signer per signing name and region, not one per request', async () => {
    const signer = (client().config as unknown as { signer: SignerOf }).signer;
    const s3 = { name: 'sigv4', signingName: 's3', signingRegion: 'us-east-1' };
    const first = await signer(s3);
    expect(await signer({ ...s3 })).toBe(first);
    expect(await signer(undefined)).toBe(await signer(undefined));
    const elsewhere = await signer({ ...s3, signingRegion: 'eu-west-1' });
    expect(elsewhere).not.toBe(first);
    // Still the SDK's signer: the one it would have made for that scheme.
    expect((elsewhere as object).constructor.name).toBe('SignatureV4MultiRegion');
  });

  test('each client keeps its own signers (its own credentials)', async () => {
    const scheme = { name: 'sigv4', signingName: 's3', signingRegion: 'us-east-1' };
    const a = await (client().config as unknown as { signer: SignerOf }).signer(scheme);
    const b = await (client().config as unknown as { signer: SignerOf }).signer(scheme);
    expect(a).not.toBe(b);
  });
});
