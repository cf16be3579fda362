import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signature checking for the embedded S3 server (s3rver accepts any SigV4 signature): AWS Signature
 * Version 4, in the Authorization header or a presigned URL, verified against a set of key pairs, some
 * of which may only read. This is what makes the embedded server a fair stand-in for a real S3 when
 * people sign in with their own keys.
 */
export interface EmbeddedKey {
  secret: string;
  readOnly: boolean;
}

/** Finds the key pair of an access key id; undefined when the server does not know it. */
export type EmbeddedKeys = (accessKeyId: string) => EmbeddedKey | undefined;

export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export type Verdict = { ok: true } | { ok: false; code: 'AccessDenied' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch'; message: string };

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, '%20'));
  } catch {
    return s;
  }
}

function canonicalQuery(query: string, omit: string | undefined): string {
  if (query === '') return '';
  return query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = decodeQueryPart(eq < 0 ? p : p.slice(0, eq));
      const v = eq < 0 ? '' : decodeQueryPart(p.slice(eq + 1));
      return [rfc3986(k), rfc3986(v)] as const;
    })
    .filter(([k]) => k !== omit)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(headers: SignedRequest['headers'], name: string): string {
  const v = headers[name];
  const joined = Array.isArray(v) ? v.join(',') : (v ?? '');
  return joined.trim().replace(/\s+/g, ' ');
}

interface Signature {
  accessKeyId: string;
  scope: string;
  date: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  expiresAt: number | undefined;
}

function parse(req: SignedRequest, query: URLSearchParams): Signature | undefined {
  const auth = headerValue(req.headers, 'authorization');
  if (auth) {
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return undefined;
    return {
      accessKeyId: m[1]!,
      scope: m[2]!,
      date: headerValue(req.headers, 'x-amz-date'),
      signedHeaders: m[3]!.split(';'),
      signature: m[4]!,
      payloadHash: headerValue(req.headers, 'x-amz-content-sha256') || 'UNSIGNED-PAYLOAD',
      expiresAt: undefined,
    };
  }
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return undefined;
  const credential = query.get('X-Amz-Credential') ?? '';
  const slash = credential.indexOf('/');
  const date = query.get('X-Amz-Date') ?? '';
  const t = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  const start = t ? Date.UTC(+t[1]!, +t[2]! - 1, +t[3]!, +t[4]!, +t[5]!, +t[6]!) : NaN;
  return {
    accessKeyId: credential.slice(0, slash),
    scope: credential.slice(slash + 1),
    date,
    signedHeaders: (query.get('X-Amz-SignedHeaders') ?? '').split(';'),
    signature: query.get('X-Amz-Signature') ?? '',
    payloadHash: 'UNSIGNED-PAYLOAD',
    expiresAt: start + Number(query.get('X-Amz-Expires') ?? 0) * 1000,
  };
}

/** Checks one request's SigV4 signature and, for read-only keys, that it only reads. */
export function verifySignature(req: SignedRequest, keys: EmbeddedKeys, now = Date.now()): Verdict {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const sig = parse(req, new URLSearchParams(rawQuery));
  if (!sig) return { ok: false, code: 'AccessDenied', message: 'Anonymous access is not allowed; sign requests with AWS Signature Version 4.' };
  const key = keys(sig.accessKeyId);
  if (!key) return { ok: false, code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (sig.expiresAt !== undefined && !(sig.expiresAt > now)) return { ok: false, code: 'AccessDenied', message: 'Request has expired' };

  const canonicalRequest = [
    req.method,
    path,
    canonicalQuery(rawQuery, sig.expiresAt === undefined ? undefined : 'X-Amz-Signature'),
    ...sig.signedHeaders.map((h) => `${h}:${headerValue(req.headers, h)}`),
    '',
    sig.signedHeaders.join(';'),
    sig.payloadHash,
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', sig.date, sig.scope, sha256Hex(canonicalRequest)].join('\n');
  const [day, region, service] = sig.scope.split('/');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${key.secret}`, day ?? ''), region ?? ''), service ?? ''), 'aws4_request');
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(sig.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided.' };
  }
  if (key.readOnly && req.method !== 'GET' && req.method !== 'HEAD') return { ok: false, code: 'AccessDenied', message: 'Access Denied' };
  return { ok: true };
}
