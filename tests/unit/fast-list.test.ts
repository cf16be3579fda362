import { Readable } from 'node:stream';
import { ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { readListingsFast } from '../../src/storage/s3/fast-deserializers.js';
import { parseListObjectsV2 } from '../../src/storage/s3/fast-list.js';
import { listProjection } from '../support/list-projection.js';

/**
 * The gateway's ListObjectsV2 reader against the SDK's, on the same raw answers: two clients that differ
 * only in the reader, each given the same status, headers and bytes by a canned request handler (pure
 * parsing: no S3 is involved; tests/integration/fast-list.test.ts does the same with real servers).
 */

const HEADERS = { 'content-type': 'application/xml', 'x-amz-request-id': 'tx0001', 'x-amz-id-2': 'host-id' };

function clientAnswering(status: number, body: string, headers: Record<string, string> = HEADERS): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
    requestHandler: { handle: async () => ({ response: { statusCode: status, headers: { ...headers }, body: Readable.from([Buffer.from(body)]) } }) } as never,
  });
}

async function both(status: number, body: string, headers?: Record<string, string>) {
  const sdk = clientAnswering(status, body, headers);
  const fast = clientAnswering(status, body, headers);
  readListingsFast(fast);
  const run = (c: S3Client) =>
    c.send(new ListObjectsV2Command({ Bucket: 'b', Prefix: 'p/' })).then(
      (o: ListObjectsV2CommandOutput) => ({ ok: listProjection(o) }),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => ({ error: { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode } }),
    );
  return { sdk: await run(sdk), fast: await run(fast) };
}

const doc = (inner: string, head = '<?xml version="1.0" encoding="UTF-8"?>\n') =>
  `${head}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</ListBucketResult>`;
const object = (key: string, extra = '') =>
  `<Contents><Key>${key}</Key><LastModified>2026-12-02T10:11:12.345Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>${extra}<StorageClass>STANDARD</StorageClass></Contents>`;

/** Answers the gateway's reader takes itself (and must read exactly as the SDK does). */
const READ_FAST: Array<[string, string]> = [
  [
    'a page of files and folders',
    doc(
      `<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>${object('p/a.txt')}${object('p/b.txt')}<CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes>`,
    ),
  ],
  [
    'keys with XML entities, numeric references and Unicode',
    doc(
      object('p/a &amp; b &lt;c&gt; &quot;q&quot; &apos;s&apos;.txt') +
        object('p/&#38;&#x26;&#233;&#x1F600;.txt') +
        object('p/日本語 ü é 😀.txt') +
        object('p/unknown &nbsp; entity.txt') +
        object('p/  spaces around  ') +
        object('p/tab\there'),
    ),
  ],
  ['encoding-type=url', doc(`<EncodingType>url</EncodingType><Prefix>p%2F</Prefix>${object('p%2Fa%20b%26c.txt')}<KeyCount>1</KeyCount>`)],
  ['an empty page', doc('<Name>b</Name><Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>')],
  [
    'a truncated page',
    doc(
      `<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><ContinuationToken>abc==</ContinuationToken><NextContinuationToken>1/xyz+==</NextContinuationToken><StartAfter>p/0</StartAfter>${object('p/1')}${object('p/2')}`,
    ),
  ],
  [
    'common prefixes only',
    doc(
      '<Delimiter>/</Delimiter><CommonPrefixes><Prefix>p/a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/b &amp; c/</Prefix></CommonPrefixes><IsTruncated>False</IsTruncated>',
    ),
  ],
  [
    'a pretty-printed answer with CRLF line ends (as some servers send)',
    '<?xml version="1.0" encoding="UTF-8"?>\r\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\r\n  <Name>b</Name>\r\n  <Prefix></Prefix>\r\n  <Contents>\r\n    <Key>p/multi\r\nline</Key>\r\n    <LastModified>2026-12-02T10:11:12Z</LastModified>\r\n    <ETag>"abc-2"</ETag>\r\n    <Size>5497558138880</Size>\r\n  </Contents>\r\n</ListBucketResult>\r\n',
  ],
  [
    'the RADOS Gateway: owner, type and empty markers',
    doc(
      `<Name>b</Name><Prefix>p/</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Marker></Marker>${object('p/x', '<Owner><ID>tester</ID><DisplayName>Tester</DisplayName></Owner><Type>Normal</Type>')}<KeyCount>1</KeyCount>`,
    ),
  ],
  ['self-closing elements, and a key of whitespace and a line break', doc(`<Prefix/><Delimiter/><StartAfter/>${object('\n  ')}`)],
  [
    'timestamps with other fractions, a lower-case z, an early year',
    doc(
      object('p/a').replace('2026-12-02T10:11:12.345Z', '2026-01-31T23:59:60.5Z') +
        object('p/b').replace('2026-12-02T10:11:12.345Z', '2026-12-02T10:11:12.123456789z') +
        object('p/c').replace('2026-12-02T10:11:12.345Z', '0099-02-03T04:05:06.000Z'),
    ),
  ],
  [
    'timestamps the fast reading takes: a day past the month’s end, a leap day, midnight, one shared by several objects',
    doc(
      object('p/a').replace('2026-12-02T10:11:12.345Z', '2026-02-31T00:00:00.000Z') +
        object('p/b').replace('2026-12-02T10:11:12.345Z', '2028-02-29T23:59:59.999Z') +
        object('p/c').replace('2026-12-02T10:11:12.345Z', '2026-12-03T00:00:00.000Z') +
        object('p/d').replace('2026-12-02T10:11:12.345Z', '2026-12-03T00:00:00.000Z'),
    ),
  ],
  [
    'elements it does not read, one given twice, one named like an object property, one with a member inside',
    doc(
      object('p/a', '<Owner><ID>1</ID></Owner><Owner><ID>2</ID></Owner><constructor>x</constructor><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>') +
        object('p/b', '<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>'),
    ),
  ],
  ['a Size that is empty, and no ETag', doc('<Contents><Key>p/e</Key><LastModified>2026-12-02T10:11:12Z</LastModified><Size></Size></Contents>')],
];

/** Answers it hands to the SDK: the outcome (output or error) must be the SDK's all the same. */
const HANDED_BACK: Array<[string, string]> = [
  ['CDATA in a key', doc(object('<![CDATA[p/<odd>]]>'))],
  ['a comment', doc(`<!-- listed -->${object('p/a')}`)],
  ['an attribute on a member', doc(object('p/a').replace('<Size>', '<Size unit="bytes">'))],
  ['a key given twice', doc(object('p/a').replace('</Key>', '</Key><Key>p/b</Key>'))],
  ['a timestamp with an offset', doc(object('p/a').replace('2026-12-02T10:11:12.345Z', '2026-12-02T12:11:12.345+02:00'))],
  ['a comment inside an element it skips', doc(object('p/a', '<Owner><!-- x --><ID>1</ID></Owner>'))],
  ['an element inside one of the same name', doc(object('p/a', '<Owner><Owner>1</Owner></Owner>'))],
  ['an hour 24', doc(object('p/a').replace('2026-12-02T10:11:12.345Z', '2026-12-02T24:00:00.000Z'))],
  ['an impossible timestamp', doc(object('p/a').replace('2026-12-02T10:11:12.345Z', '2026-13-02T10:11:12Z'))],
  ['not a timestamp', doc(object('p/a').replace('2026-12-02T10:11:12.345Z', 'yesterday'))],
  ['a doctype', doc(object('p/a'), '<?xml version="1.0"?><!DOCTYPE ListBucketResult>')],
  ['another root', '<ListAllMyBucketsResult></ListAllMyBucketsResult>'],
  ['a document cut short', doc(object('p/a')).slice(0, -30)],
  ['not XML', 'this is not XML'],
  ['nothing', ''],
];

describe('ListObjectsV2: the gateway’s reader gives what the SDK gives', () => {
  it.each(READ_FAST)('%s', async (_name, body) => {
    expect(parseListObjectsV2(body)).toBeDefined();
    const { sdk, fast } = await both(200, body);
    expect(sdk).toHaveProperty('ok');
    expect(fast).toEqual(sdk);
  });

  it.each(HANDED_BACK)('hands %s back to the SDK', async (_name, body) => {
    expect(parseListObjectsV2(body)).toBeUndefined();
    const { sdk, fast } = await both(200, body);
    expect(fast).toEqual(sdk);
  });

  it.each([
    [
      404,
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName><RequestId>tx1</RequestId></Error>',
    ],
    [403, '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'],
    [503, '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>'],
    [500, ''],
  ])('leaves error answers to the SDK (%d)', async (status, body) => {
    const { sdk, fast } = await both(status, body);
    expect(sdk).toHaveProperty('error');
    expect(fast).toEqual(sdk);
  });

  it('passes the answer’s headers on as the SDK does', async () => {
    const { sdk, fast } = await both(200, doc(object('p/a')), { ...HEADERS, 'x-amz-request-charged': 'requester', 'x-amz-cf-id': 'cf' });
    expect(fast).toEqual(sdk);
    expect(fast).toMatchObject({ ok: { RequestCharged: 'requester', $metadata: { requestId: 'tx0001', extendedRequestId: 'host-id', cfId: 'cf' } } });
  });
});
