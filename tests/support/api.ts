import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import http, { type IncomingMessage } from 'node:http';
import type { Express } from 'express';
import pLimit from 'p-limit';
import request from 'supertest';
import type { S3Bucket } from '../../src/storage/s3/bucket.js';
import { TEST_PASSWORD } from './gateway.js';

export type Json = Record<string, unknown>;

/** A signed-in client of the final dialect: every call carries the bearer token. */
export interface Client {
  token: string;
  rootId: string;
  get(url: string): request.Test;
  post(url: string, body?: object): request.Test;
  put(url: string, body?: object): request.Test;
  del(url: string): request.Test;
}

export async function signIn(app: Express, user: string, password = TEST_PASSWORD): Promise<Client> {
  return signInWith(app, { user, password });
}

/** Sign-in with whatever the gateway's form asks (user/password, S3 keys, a Cells token). */
export async function signInWith(app: Express, fields: Record<string, string>): Promise<Client & { body: Json }> {
  const res = await request(app).post('/v2/gateway_auth').send(fields).expect(200);
  const token = res.body['gateway.auth.access.token'] as string;
  const auth = { Authorization: `Bearer ${token}` };
  return {
    body: res.body as Json,
    token,
    rootId: res.body['gateway.auth.metadata.id'] as string,
    get: (url) => request(app).get(url).set(auth),
    // Without a body the caller may still send one of its own (bytes for an upload).
    post: (url, body) => (body ? request(app).post(url).set(auth).send(body) : request(app).post(url).set(auth)),
    put: (url, body) => (body ? request(app).put(url).set(auth).send(body) : request(app).put(url).set(auth)),
    del: (url) => request(app).delete(url).set(auth),
  };
}

/** Every entry of a folder, following X-Gateway-Page; also reports how many pages it took. */
export async function listAll(c: Client, folderId: string): Promise<{ entries: Json[]; pages: number }> {
  const entries: Json[] = [];
  let page: string | undefined;
  let pages = 0;
  do {
    const res = await c.get(`/v2/gateway_metadata_children/${folderId}${page ? `?page=${encodeURIComponent(page)}` : ''}`).expect(200);
    pages++;
    entries.push(...(res.body as Json[]));
    page = res.headers['x-gateway-page'];
  } while (page);
  return { entries, pages };
}

export const byName = (entries: Json[], name: string) => entries.find((e) => e['gateway.metadata.name'] === name);
export const names = (entries: Json[]) => entries.map((e) => e['gateway.metadata.name'] as string).sort();

/** Writes objects straight into S3, as other tools would, at bounded concurrency. */
export async function seed(bucket: S3Bucket, keys: string[], opts: { body?: string; metadata?: Record<string, string> } = {}): Promise<void> {
  const limit = pLimit(32);
  await Promise.all(
    keys.map((Key) =>
      limit(() =>
        bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key, Body: Buffer.from(opts.body ?? `content of ${Key}`), Metadata: opts.metadata })),
      ),
    ),
  );
}

/** Every key under a prefix, straight from S3. */
export async function keysUnder(bucket: S3Bucket, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of bucket.listAll(prefix)) keys.push(...page.map((o) => o.key));
  return keys.sort();
}

export const uniqueRoot = (label: string) => `t-${label}-${randomBytes(4).toString('hex')}/`;
export const idOf = (relativeKey: string) => Buffer.from(relativeKey, 'utf8').toString('base64url');

/** supertest's parser hook for a binary body: `.buffer(true).parse(binary)`. */
export function binary(res: request.Response, done: (err: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as IncomingMessage;
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

/**
 * A one-request upload over a real socket whose body the caller sends (or stops sending): for what
 * happens while a body is still arriving. Errors of the request are the caller's to expect.
 */
export function openUpload(base: string, token: string, parentId: string, name: string, size: number): http.ClientRequest {
  const url = new URL(base);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    method: 'POST',
    path: `/v2/gateway_metadata_file/${parentId}`,
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Length': String(size),
      'X-Gateway-Upload': JSON.stringify({ 'gateway.metadata.name': name, 'gateway.metadata.file.size': size }),
    },
  });
  req.on('error', () => undefined);
  return req;
}

/** The segments a client declares for `parts` of a segmented upload, numbered from 1, each with its sha256. */
export const segmentsOf = (parts: Buffer[]) =>
  parts.map((p, i) => ({
    'gateway.upload.segment.number': i + 1,
    'gateway.upload.segment.size': p.length,
    'gateway.upload.segment.sha256': createHash('sha256').update(p).digest('hex'),
  }));
