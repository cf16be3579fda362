import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type S3rver from 's3rver';

import { verifySignature, type EmbeddedKeys } from './embedded-auth.js';

/** The embedded server's key pair: local and well known, so a placeholder rather than a secret. */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface EmbeddedS3Options {
  /** Check every request's signature against these key pairs; absent: signatures are not checked. */
  keys?: EmbeddedKeys;
  /**
   * Behave like Pydio Cells' S3 gateway, for testing the `cells` profile: no DeleteObjects, no copy onto
   * itself, HEAD fails on folder keys, and listings are cut at max-keys without a continuation token.
   */
  imitateCells?: boolean;
}

export interface EmbeddedS3 {
  endpoint: string;
  directory: string;
  close(): Promise<void>;
}

// s3rver and the internals the corrections below build on (stable in 3.7.1, the last release), loaded
// only when the embedded server starts: a gateway on a real S3 never pays for them.
const require = createRequire(import.meta.url);
interface S3rverInternals {
  FilesystemStore: { encodeKeyPath(key: string): string; decodeKeyPath(path: string): string };
  walk: (dir: string, filter: (dir: string) => boolean) => Iterable<string>;
  S3Error: new (code: string, message: string, detail?: object) => Error;
}
let internalsCache: S3rverInternals | undefined;
function s3rver(): S3rverInternals {
  internalsCache ??= {
    FilesystemStore: require('s3rver/lib/stores/filesystem.js') as S3rverInternals['FilesystemStore'],
    walk: (require('s3rver/lib/utils.js') as Pick<S3rverInternals, 'walk'>).walk,
    S3Error: require('s3rver/lib/models/error.js') as S3rverInternals['S3Error'],
  };
  return internalsCache;
}

interface FsObject {
  content: (NodeJS.ReadableStream & { destroy(): void }) | null;
  range?: { start: number; end: number };
}

interface FsStore {
  getBucket(name: string): Promise<unknown>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<FsObject | undefined>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getBucketPath(name: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
  deleteObject(bucket: string, key: string): Promise<void>;
}

interface KoaContext {
  method: string;
  originalUrl: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** s3rver's per-request state: `account` is set for a signed request. */
  state: { account?: object };
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

const OBJECT_SUFFIX = '._S3rver_object';
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * s3rver is a development dependency: a production install (`npm ci --omit=dev`, the container image)
 * leaves it out, with the advisories of its unmaintained dependencies, and must name an S3_ENDPOINT.
 */
async function loadS3rver(): Promise<typeof S3rver> {
  try {
    return (await import('s3rver')).default;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      'the embedded S3 server (no S3_ENDPOINT) is for trying and development and comes with the development dependencies (npm ci); set S3_ENDPOINT and its keys to use an S3 server',
      { cause: err },
    );
  }
}

/**
 * ListObjectsV2 as S3 does it, in place of s3rver's: keys and common prefixes in UTF-8 byte order,
 * prefixes counted against max-keys, and a page token that needs no legacy cipher.
 */
function listObjectsV2(store: FsStore, paginates: boolean): Middleware {
  const { FilesystemStore, walk, S3Error } = s3rver();
  return async (ctx, next) => {
    const bucketMatch = /^\/([^/]+)\/?$/.exec(ctx.path);
    if (ctx.method !== 'GET' || one(ctx.query['list-type']) !== '2' || !bucketMatch) return next();
    const bucket = decodeURIComponent(bucketMatch[1]!);
    if (!(await store.getBucket(bucket))) return next(); // s3rver answers NoSuchBucket

    const prefix = one(ctx.query.prefix) ?? '';
    const delimiter = one(ctx.query.delimiter) ?? '';
    const asked = Math.max(0, Number(one(ctx.query['max-keys']) ?? 1000) || 0);
    const maxKeys = paginates ? Math.min(1000, asked) : asked;
    const token = one(ctx.query['continuation-token']);
    let after = one(ctx.query['start-after']) ?? '';
    if (token) {
      after = Buffer.from(token, 'base64url').toString('utf8');
      if (!token.match(/^[A-Za-z0-9_-]+$/) || after === '') {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
      }
    }

    const root = store.getBucketPath(bucket);
    const prefixPath = `${root}/${FilesystemStore.encodeKeyPath(prefix)}`;
    // Walk only directories that can hold matching keys (all depths: a folder may hold only sub-folders).
    const dirs = (dir: string) => dir.startsWith(prefixPath) || prefixPath.startsWith(dir);

    const keys = new Set<string>();
    const prefixes = new Set<string>();
    for (const file of walk(root, dirs)) {
      if (!file.endsWith(OBJECT_SUFFIX)) continue;
      const key = FilesystemStore.decodeKeyPath(file.slice(root.length + 1, -OBJECT_SUFFIX.length));
      if (!key.startsWith(prefix)) continue;
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) prefixes.add(key.slice(0, cut + delimiter.length));
      else keys.add(key);
    }
    const all = [...keys, ...prefixes].filter((k) => byteOrder(k, after) > 0).sort(byteOrder);
    const page = all.slice(0, maxKeys);
    const truncated = paginates && all.length > page.length;
    const contents = await Promise.all(
      page
        .filter((k) => keys.has(k))
        .map(async (key) => {
          const md = await store.getMetadata(bucket, key);
          return {
            Key: key,
            LastModified: new Date(String(md['last-modified'])).toISOString(),
            ETag: md.etag,
            Size: Number(md['content-length']),
            StorageClass: 'STANDARD',
          };
        }),
    );
    ctx.body = {
      ListBucketResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Name: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
        ...(truncated ? { NextContinuationToken: Buffer.from(page[page.length - 1]!, 'utf8').toString('base64url') } : {}),
        KeyCount: page.length,
        MaxKeys: maxKeys,
        ...(delimiter ? { Delimiter: delimiter } : {}),
        IsTruncated: truncated,
        Contents: contents,
        CommonPrefixes: page.filter((k) => prefixes.has(k)).map((Prefix) => ({ Prefix })),
      },
    };
  };
}

/**
 * s3rver decodes x-amz-copy-source with decodeURI, which leaves `%2B %23 %3F %26 %3D %3B` encoded, so
 * keys with `+ # ? & = ;` are "not found". Re-encode the header in the only form it can read.
 */
const copySourceEncoding: Middleware = async (ctx, next) => {
  const source = one(ctx.headers['x-amz-copy-source']);
  if (source) {
    try {
      ctx.headers['x-amz-copy-source'] = encodeURI(decodeURIComponent(source));
    } catch {
      // malformed encoding: leave it for s3rver to refuse
    }
  }
  return next();
};

/** `Range: bytes=-N` (the last N bytes), which s3rver reads as a start offset: rewrite it as `a-b`. */
function suffixRanges(store: FsStore): Middleware {
  return async (ctx, next) => {
    const range = one(ctx.headers.range);
    const m = range ? /^bytes=-(\d+)$/.exec(range.trim()) : null;
    const target = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if (ctx.method === 'GET' && m && target) {
      try {
        const md = await store.getMetadata(decodeURIComponent(target[1]!), decodeURIComponent(target[2]!));
        const size = Number(md['content-length']);
        const n = Math.min(Number(m[1]), size);
        if (n > 0) ctx.headers.range = `bytes=${size - n}-${size - 1}`;
      } catch {
        // no such object: s3rver answers NoSuchKey
      }
    }
    return next();
  };
}

/** AbortMultipartUpload, which s3rver lacks: drop the upload's stored parts. */
function abortMultipart(store: FsStore): Middleware {
  const { S3Error } = s3rver();
  return async (ctx, next) => {
    const uploadId = one(ctx.query.uploadId);
    const target = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if (ctx.method !== 'DELETE' || !uploadId || !target) return next();
    if (!/^[0-9a-f]+$/.test(uploadId)) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
    const dir = path.join(store.getResourcePath(decodeURIComponent(target[1]!), undefined, 'uploads'), uploadId);
    await rm(dir, { recursive: true, force: true });
    (ctx as unknown as { status: number }).status = 204;
    ctx.body = '';
  };
}

/**
 * ListMultipartUploads, which s3rver lacks (it keeps each upload's key in its upload folder): uploads in
 * key order, then upload id, from the markers on, `max-uploads` at a time.
 */
function listMultipartUploads(store: FsStore): Middleware {
  return async (ctx, next) => {
    const bucketMatch = /^\/([^/]+)\/?$/.exec(ctx.path);
    if (ctx.method !== 'GET' || !('uploads' in ctx.query) || !bucketMatch) return next();
    const bucket = decodeURIComponent(bucketMatch[1]!);
    if (!(await store.getBucket(bucket))) return next();
    const prefix = one(ctx.query.prefix) ?? '';
    const keyMarker = one(ctx.query['key-marker']) ?? '';
    const idMarker = one(ctx.query['upload-id-marker']) ?? '';
    const max = Math.min(1000, Math.max(1, Number(one(ctx.query['max-uploads']) ?? 1000) || 1000));
    const dir = store.getResourcePath(bucket, undefined, 'uploads');
    const ids = await readdir(dir).catch(() => [] as string[]);
    const uploads = (
      await Promise.all(
        ids.map(async (uploadId) => {
          const key = await readFile(path.join(dir, uploadId, 'key'), 'utf8').catch(() => undefined);
          return key === undefined ? undefined : { key, uploadId, initiated: (await stat(path.join(dir, uploadId))).birthtime };
        }),
      )
    )
      .filter((u): u is NonNullable<typeof u> => u !== undefined && u.key.startsWith(prefix))
      .filter((u) => byteOrder(u.key, keyMarker) > 0 || (u.key === keyMarker && idMarker !== '' && u.uploadId > idMarker))
      .sort((a, b) => byteOrder(a.key, b.key) || (a.uploadId < b.uploadId ? -1 : 1));
    const page = uploads.slice(0, max);
    const truncated = uploads.length > page.length;
    const last = page[page.length - 1];
    ctx.body = {
      ListMultipartUploadsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
        ...(truncated && last ? { NextKeyMarker: last.key, NextUploadIdMarker: last.uploadId } : {}),
        Prefix: prefix,
        MaxUploads: max,
        IsTruncated: truncated,
        Upload: page.map((u) => ({ Key: u.key, UploadId: u.uploadId, Initiated: u.initiated.toISOString(), StorageClass: 'STANDARD' })),
      },
    };
  };
}

const NOT_IMPLEMENTED = 'A header you provided implies functionality that is not implemented';

/** The keys a DeleteObjects request names (its XML body, read here before s3rver would). */
async function keysToDelete(ctx: KoaContext): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of (ctx as unknown as { req: AsyncIterable<Buffer> }).req) chunks.push(chunk);
  const xml = Buffer.concat(chunks).toString('utf8');
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) =>
    m[1]!.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (e, name: string) =>
      name.startsWith('#x')
        ? String.fromCodePoint(parseInt(name.slice(2), 16))
        : name.startsWith('#')
          ? String.fromCodePoint(Number(name.slice(1)))
          : (entities[name] ?? e),
    ),
  );
}

/**
 * Pydio Cells' S3 gateway (a MinIO gateway over Cells' tree; see its gateway/data/gw/gateway-pydio.go), as
 * it answers what it does not do: DeleteObjects reports every key as an error NotImplemented and deletes
 * nothing; a copy onto itself is 501 NotImplemented; asking for the object info of a folder (HEAD or GET
 * of a key ending in `/`) is a plain error, 500 InternalError; listings stop at max-keys without a
 * continuation token (the listing correction does that); and PUT and CopyObject answer with an empty
 * ETag (`""`), its PutObject and CopyObject returning no ETag of the node they wrote.
 */
function cellsLimits(): Middleware {
  const { S3Error } = s3rver();
  return async (ctx, next) => {
    const target = /^\/[^/]+\/(.+)$/.exec(ctx.path);
    if (ctx.method === 'POST' && 'delete' in ctx.query) {
      const keys = await keysToDelete(ctx);
      ctx.body = {
        DeleteResult: {
          '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
          Error: keys.map((Key) => ({ Key, Code: 'NotImplemented', Message: NOT_IMPLEMENTED })),
        },
      };
      return;
    }
    const source = one(ctx.headers['x-amz-copy-source']);
    if (ctx.method === 'PUT' && source && decodeURIComponent(source.replace(/^\/?/, '/')) === decodeURIComponent(ctx.path)) {
      throw new S3Error('NotImplemented', NOT_IMPLEMENTED);
    }
    if ((ctx.method === 'HEAD' || ctx.method === 'GET') && target && ctx.path.endsWith('/')) {
      throw new S3Error('InternalError', 'We encountered an internal error, please try again.');
    }
    await next();
    if (ctx.method === 'PUT' && target && !('partNumber' in ctx.query)) {
      const answer = ctx as unknown as { set(name: string, value: string): void; body: unknown };
      const copied = (answer.body as { CopyObjectResult?: { ETag?: string } } | undefined)?.CopyObjectResult;
      if (copied) copied.ETag = '""';
      else answer.set('ETag', '""');
    }
  };
}

/** Refuses requests whose signature does not check out, as S3 would (s3rver does not check SigV4). */
function checkSignatures(keys: EmbeddedKeys): Middleware {
  const { S3Error } = s3rver();
  return async (ctx, next) => {
    const verdict = verifySignature({ method: ctx.method, url: ctx.originalUrl, headers: ctx.headers }, keys);
    if (!verdict.ok) throw new S3Error(verdict.code, verdict.message);
    // Checked here: s3rver's own check knows only its one built-in key, so it must not see the signature.
    // It must still know the request was signed (it refuses response-* overrides to anonymous ones).
    ctx.state.account = { signed: true };
    delete ctx.headers.authorization;
    if ('X-Amz-Algorithm' in ctx.query) {
      ctx.query = Object.fromEntries(Object.entries(ctx.query).filter(([k]) => !k.startsWith('X-Amz-')));
    }
    return next();
  };
}

/**
 * s3rver removes emptied directories after each delete; concurrent deletes (DeleteObjects runs them in
 * parallel) race on the same directories and fail with 500 after deleting. Deletes go one at a time.
 */
function serializeDeletes(store: FsStore): void {
  const original = store.deleteObject.bind(store);
  let queue: Promise<unknown> = Promise.resolve();
  store.deleteObject = (bucket, key) => {
    const run = queue.then(() => original(bucket, key));
    queue = run.catch(() => undefined);
    return run;
  };
}

/** `Range: bytes=0-0`, which s3rver reads as "to the end" (an end of 0 is falsy to it): serve the one byte. */
function firstByteRange(store: FsStore): void {
  const original = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await original(bucket, key, options);
    if (options?.end === 0 && object?.range && object.content) {
      object.content.destroy();
      object.range.end = 0;
      object.content = createReadStream(store.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
    }
    return object;
  };
}

/**
 * An S3-compatible server in this process, for trying the gateway and for development: data lives in
 * `<dataDir>/s3`. It is not a production store; the corrections above make the parts the gateway relies
 * on behave as S3 does, and with `keys` it checks signatures and refuses writes with read-only keys.
 */
export async function startEmbeddedS3(dataDir: string, options: EmbeddedS3Options = {}): Promise<EmbeddedS3> {
  const directory = path.join(dataDir, 's3');
  await mkdir(directory, { recursive: true });
  const S3rver = await loadS3rver();
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false });
  const internals = server as unknown as { middleware: Middleware[]; store: FsStore };
  serializeDeletes(internals.store);
  firstByteRange(internals.store);
  // After s3rver's logger and XML encoder (the first two), before its router.
  internals.middleware.splice(
    2,
    0,
    ...(options.keys ? [checkSignatures(options.keys)] : []),
    ...(options.imitateCells ? [cellsLimits()] : []),
    copySourceEncoding,
    listObjectsV2(internals.store, !options.imitateCells),
    suffixRanges(internals.store),
    abortMultipart(internals.store),
    listMultipartUploads(internals.store),
  );
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    async close() {
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
