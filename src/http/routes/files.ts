import { pipeline } from 'node:stream';
import { Router, type Request, type Response } from 'express';
import { invalid } from '../../core/errors.js';
import type { GatewayServices } from '../../core/services.js';
import { FINAL_FIELDS, readDeclaration } from '../../core/transfers/uploads.js';
import { authenticate, sessionOf } from '../middleware/authenticate.js';
import { jsonBody } from '../middleware/json-body.js';
import { finalEntry } from './metadata.js';

const idOf = (req: Request) => (typeof req.params.id === 'string' ? req.params.id : '');

/** A JSON header (X-Gateway-Upload, X-Gateway-Upload-Segment): 400 naming it when absent or malformed. */
export function jsonHeader(req: Request, name: string): Record<string, unknown> {
  const raw = req.get(name);
  if (!raw) throw invalid(name, 'header is required');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(name, 'header is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(name, 'header must be a JSON object');
  return value as Record<string, unknown>;
}

/** Names travel percent-encoded in headers (headers are not safe for every character). */
export function percentDecoded(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(field, 'is not valid percent-encoding');
  }
}

/** A declared size that Content-Length already contradicts is refused before a byte is read. */
export function checkContentLength(req: Request, declared: number, field: string): void {
  const length = req.get('content-length');
  if (length !== undefined && Number(length) !== declared) {
    throw invalid(field, `is ${declared} but the request's Content-Length is ${length}`);
  }
}

/** Moving bytes: uploads (one request or segmented), downloads and thumbnails, in the final dialect. */
export function fileRoutes(services: GatewayServices, maxJsonBodyBytes: number): Router {
  const r = Router();
  const auth = authenticate(services.sessions);
  const body = jsonBody(maxJsonBodyBytes);
  const { uploads, downloads, thumbnails } = services;
  const UPLOAD = 'X-Gateway-Upload';

  r.post('/v2/gateway_metadata_file{/:id}', auth, async (req: Request, res: Response) => {
    const header = jsonHeader(req, UPLOAD);
    const d = readDeclaration(header, FINAL_FIELDS);
    checkContentLength(req, d.size, FINAL_FIELDS.size);
    const name = percentDecoded(header[FINAL_FIELDS.name], FINAL_FIELDS.name);
    res.json(finalEntry(await uploads.uploadNew(sessionOf(res).account, idOf(req), name, d, req)));
  });

  r.put('/v2/gateway_metadata_file/:id', auth, async (req: Request, res: Response) => {
    const d = readDeclaration(jsonHeader(req, UPLOAD), FINAL_FIELDS);
    checkContentLength(req, d.size, FINAL_FIELDS.size);
    res.json(finalEntry(await uploads.update(sessionOf(res).account, idOf(req), d, req)));
  });

  const sendHead = async (req: Request, res: Response) => {
    const head = await downloads.head(sessionOf(res).account, idOf(req));
    res.set({
      'Content-Length': String(head.size),
      'Content-Type': head.contentType ?? 'application/octet-stream',
      ETag: head.etag,
      'Last-Modified': head.lastModified.toUTCString(),
      'Accept-Ranges': 'bytes',
    });
    res.status(200).end();
  };
  r.head('/v2/gateway_file/:id', auth, sendHead);

  r.get('/v2/gateway_file/:id', auth, async (req: Request, res: Response) => {
    const got = await downloads.open(sessionOf(res).account, idOf(req), {
      range: req.get('range'),
      ifNoneMatch: req.get('if-none-match'),
    });
    if (got.kind === 'redirect') {
      res.redirect(302, got.url);
      return;
    }
    if (got.kind === 'not-modified') {
      res.status(304).set('ETag', got.etag).end();
      return;
    }
    const o = got.object;
    res.status(o.status).set({
      'Content-Length': String(o.contentLength),
      'Content-Type': o.contentType ?? 'application/octet-stream',
      ETag: o.etag,
      'Last-Modified': o.lastModified.toUTCString(),
      'Accept-Ranges': 'bytes',
      ...(o.contentRange ? { 'Content-Range': o.contentRange } : {}),
    });
    // pipeline keeps S3's pace to the client's (backpressure) and ends both sides if either fails.
    pipeline(o.body, res, () => undefined);
  });

  r.get('/v2/gateway_file_thumbnail/:id', auth, async (req: Request, res: Response) => {
    const t = await thumbnails.render(sessionOf(res).account, idOf(req));
    res.status(200).set({ 'Content-Type': t.contentType, 'Content-Length': String(t.body.length), ETag: t.etag }).end(t.body);
  });

  r.post('/v2/gateway_upload', auth, ...body, async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown>;
    const d = readDeclaration(b, FINAL_FIELDS);
    const started = await uploads.start(
      sessionOf(res).account,
      { id: b['gateway.metadata.id'], parentId: b['gateway.metadata.parent.id'], name: b['gateway.metadata.name'] },
      d,
      b['gateway.upload.segment'],
      { ...FINAL_FIELDS, segments: 'gateway.upload.segment' },
    );
    res.json({
      'gateway.upload.id': started.id,
      'gateway.upload.cookie': started.cookie,
      'gateway.upload.expiration': started.expiresAt,
      'gateway.upload.segment': started.segments.map((s) => ({
        'gateway.upload.segment.number': s.number,
        'gateway.upload.segment.size': s.size,
        'gateway.upload.segment.sha256': s.sha256,
        'gateway.upload.segment.cookie': s.cookie,
      })),
    });
  });

  r.post('/v2/gateway_upload_segment/:id', auth, async (req: Request, res: Response) => {
    const header = jsonHeader(req, 'X-Gateway-Upload-Segment');
    const size = header['gateway.upload.segment.size'];
    if (typeof size === 'number') checkContentLength(req, size, 'gateway.upload.segment.size');
    const s = await uploads.uploadSegment(sessionOf(res).account, idOf(req), header, req);
    res.json({
      'gateway.upload.segment.number': s.number,
      'gateway.upload.segment.size': s.size,
      'gateway.upload.segment.sha256': s.sha256,
      'gateway.upload.segment.cookie': s.cookie,
      'gateway.upload.cookie': header['gateway.upload.cookie'],
    });
  });

  const finish = (isNew: boolean) => async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown>;
    const d = readDeclaration(b, FINAL_FIELDS);
    const target = isNew ? { parentId: idOf(req), name: b['gateway.metadata.name'] } : { id: idOf(req) };
    const entry = await uploads.finish(sessionOf(res).account, target, d, b['gateway.upload.id'], b['gateway.upload.cookie']);
    res.json(finalEntry(entry));
  };
  r.post('/v2/gateway_metadata_upload{/:id}', auth, ...body, finish(true));
  r.put('/v2/gateway_metadata_upload/:id', auth, ...body, finish(false));

  r.delete('/v2/gateway_upload/:id', auth, async (req: Request, res: Response) => {
    await uploads.cancel(sessionOf(res).account, idOf(req));
    res.json({});
  });

  return r;
}
