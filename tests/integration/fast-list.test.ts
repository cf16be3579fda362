import { ListObjectsV2Command, S3Client, type ListObjectsV2CommandInput } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { uniqueRoot, seed } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { listProjection } from '../support/list-projection.js';
import { realS3 } from '../support/targets.js';
import { EMBEDDED_CREDENTIALS } from '../../src/storage/s3/embedded.js';
import { parseListObjectsV2 } from '../../src/storage/s3/fast-list.js';

/**
 * The gateway's ListObjectsV2 reader against the SDK's on real answers: the embedded server's, and in the
 * real-S3 run the RADOS Gateway's. The gateway's own client (with the reader) and a plain SDK client list
 * the same keys; a third records the raw answers, to show that the reader took them itself.
 */

let gw: TestGateway;
let plain: S3Client;
let recorder: S3Client;
const raw: string[] = [];
const root = uniqueRoot('fast-list');
const KEYS = [
  'a &amp b.txt',
  '<tag>.txt',
  'quote".txt',
  "apos'.txt",
  '日本語 ファイル.txt',
  'ü nfc.txt',
  'u\u0308 nfd.txt',
  ' lead space',
  'trail space ',
  'percent %41 plus+sign=.txt',
  'emoji 😀.txt',
  'sub/x.txt',
  'sub/deeper/y.txt',
  'sub2/z.txt',
];

beforeAll(async () => {
  gw = await startTestGateway({ store: 'memory' });
  const endpoint = realS3?.endpoint ?? gw.runtime.embeddedS3!.endpoint;
  const credentials = realS3 ? { accessKeyId: realS3.accessKeyId, secretAccessKey: realS3.secretAccessKey } : EMBEDDED_CREDENTIALS;
  const options = {
    endpoint,
    region: realS3?.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
  plain = new S3Client(options);
  recorder = new S3Client(options);
  recorder.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response as { body: Readable };
      const chunks: Buffer[] = [];
      for await (const c of response.body) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      raw.push(body.toString('utf8'));
      response.body = Readable.from([body]);
      return out;
    },
    { step: 'deserialize', name: 'recordRawAnswer', priority: 'low' },
  );
  await seed(
    gw.bucket,
    KEYS.map((k) => root + k),
  );
}, 60_000);

afterAll(async () => {
  plain?.destroy();
  recorder?.destroy();
  await gw?.close();
});

const LISTINGS: Array<[string, Omit<ListObjectsV2CommandInput, 'Bucket'>]> = [
  ['one folder, files and folders', { Prefix: root, Delimiter: '/' }],
  ['the whole tree', { Prefix: root }],
  ['a page of three, truncated', { Prefix: root, MaxKeys: 3 }],
  ['encoding-type=url', { Prefix: root, EncodingType: 'url' }],
  ['after a key', { Prefix: root, StartAfter: `${root}sub/` }],
  ['folders only', { Prefix: `${root}sub`, Delimiter: '/' }],
  ['nothing there', { Prefix: `${root}missing/`, Delimiter: '/' }],
];

describe('ListObjectsV2 on a real server: the gateway’s reader gives what the SDK gives', () => {
  it.each(LISTINGS)('%s', async (_name, input) => {
    const bucket = gw.bucket.name;
    let token: string | undefined;
    let pages = 0;
    do {
      const command = () => new ListObjectsV2Command({ Bucket: bucket, ...input, ...(token ? { ContinuationToken: token } : {}) });
      const [fast, sdk] = await Promise.all([gw.bucket.client.send(command()), plain.send(command())]);
      const expected = listProjection(sdk);
      const got = listProjection(fast);
      // Request ids differ from one request to the next; everything else must not.
      expect({ ...got, $metadata: got.$metadata.httpStatusCode }).toEqual({ ...expected, $metadata: expected.$metadata.httpStatusCode });
      expect(Boolean(got.$metadata.requestId)).toBe(Boolean(expected.$metadata.requestId));
      raw.length = 0;
      await recorder.send(command());
      expect(parseListObjectsV2(raw[0]!)).toBeDefined();
      token = sdk.IsTruncated ? sdk.NextContinuationToken : undefined;
      pages++;
    } while (token && pages < 10);
  });

  it('leaves the error of a missing bucket to the SDK', async () => {
    const command = () => new ListObjectsV2Command({ Bucket: 'no-such-bucket-for-fast-list' });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'listed',
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => ({ name: e.name, status: e.$metadata?.httpStatusCode }),
      );
    const [fast, sdk] = await Promise.all([outcome(gw.bucket.client.send(command())), outcome(plain.send(command()))]);
    expect(sdk).not.toBe('listed');
    expect(fast).toEqual(sdk);
  });
});
