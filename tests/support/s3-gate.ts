import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One S3 request as the gate saw it. */
export interface S3Call {
  /** The S3 operation, told from method, query and headers (CopyObject, PutObject, ...). */
  operation: string;
  bucket: string;
  /** The object key, decoded ('' for bucket-level calls). */
  key: string;
  headers: IncomingHttpHeaders;
}

export interface Hold {
  /** How many matching requests are held right now. */
  readonly held: number;
  /** Resolves once `n` matching requests have arrived (and are held). */
  arrived(n?: number): Promise<void>;
  /** Lets every held request through, and stops holding. */
  release(): void;
}

function operationOf(method: string, query: URLSearchParams, headers: IncomingHttpHeaders, key: string): string {
  const copy = headers['x-amz-copy-source'] !== undefined;
  switch (method) {
    case 'PUT':
      if (query.has('partNumber')) return copy ? 'UploadPartCopy' : 'UploadPart';
      return copy ? 'CopyObject' : key ? 'PutObject' : 'CreateBucket';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      if (query.has('delete')) return 'DeleteObjects';
      return 'Post';
    case 'DELETE':
      return query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'GET':
      return key ? 'GetObject' : query.has('uploads') ? 'ListMultipartUploads' : 'ListObjectsV2';
    case 'HEAD':
      return key ? 'HeadObject' : 'HeadBucket';
    default:
      return method;
  }
}

/**
 * An HTTP proxy between gateways and S3 (path-style), to force an interleaving without sleeping: `hold`
 * stops the S3 requests a test names (say, the CopyObject of one rename) until it releases them, while
 * everything else passes. Requests go on unchanged, Host header included, so signatures still check out.
 * It also makes S3 misbehave on chosen calls: `fail` answers them with an S3 error, `alter` changes
 * what S3's answer says.
 */
export async function s3Gate(target: string) {
  const upstream = new URL(target);
  const holds: Array<{ match: (c: S3Call) => boolean; waiting: Array<() => void>; arrivals: number; wake: () => void; open: boolean }> = [];
  /** Answers S3 gives instead of (or changed from) the real one. */
  const faults: Array<{
    match: (c: S3Call) => boolean;
    fail?: { status: number; code: string };
    alter?: (status: number, headers: http.IncomingHttpHeaders) => http.IncomingHttpHeaders;
  }> = [];
  const calls: S3Call[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gate');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const call: S3Call = {
      operation: operationOf(req.method ?? 'GET', url.searchParams, req.headers, key),
      bucket: decodeURIComponent(bucket),
      key,
      headers: req.headers,
    };
    calls.push(call);
    const fault = faults.find((f) => f.match(call));
    if (fault?.fail) {
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.fail.code}</Code><Message>made by the test's gate</Message></Error>`;
      req.resume();
      res.writeHead(fault.fail.status, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
      return;
    }
    const forward = () => {
      const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, fault?.alter ? fault.alter(answer.statusCode ?? 502, answer.headers) : answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    const hold = holds.find((h) => h.open && h.match(call));
    if (!hold) return forward();
    hold.waiting.push(forward);
    hold.arrivals++;
    hold.wake();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    /** Every call that reached the gate so far. */
    calls,
    /** Holds the requests `match` picks (at most `limit` of them; later ones pass) until `release()`. */
    hold(match: (c: S3Call) => boolean, limit = Infinity): Hold {
      const h = {
        match: (c: S3Call) => h.arrivals < limit && match(c),
        waiting: [] as Array<() => void>,
        arrivals: 0,
        wake: () => undefined as void,
        open: true,
      };
      holds.push(h);
      return {
        get held() {
          return h.open ? h.waiting.length : 0;
        },
        arrived: (n = 1) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (h.arrivals >= n) resolve();
            };
            const previous = h.wake;
            h.wake = () => {
              previous();
              check();
            };
            check();
          }),
        release: () => {
          h.open = false;
          for (const go of h.waiting.splice(0)) go();
        },
      };
    },
    /** Answers the requests `match` picks with an S3 error (`status`, `code`) until the returned function is called. */
    fail(match: (c: S3Call) => boolean, status: number, code: string): () => void {
      const f = { match, fail: { status, code } };
      faults.push(f);
      return () => void faults.splice(faults.indexOf(f), 1);
    },
    /** Passes the requests `match` picks on, with the answer's headers changed by `alter`, until the returned function is called. */
    alter(match: (c: S3Call) => boolean, alter: (status: number, headers: http.IncomingHttpHeaders) => http.IncomingHttpHeaders): () => void {
      const f = { match, alter };
      faults.push(f);
      return () => void faults.splice(faults.indexOf(f), 1);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type S3GateHandle = Awaited<ReturnType<typeof s3Gate>>;
