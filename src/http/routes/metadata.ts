import { Router, type Request, type Response } from 'express';
import type { Entry } from '../../core/file-system.js';
import { invalid } from '../../core/errors.js';
import type { GatewayServices } from '../../core/services.js';
import { authenticate, sessionOf } from '../middleware/authenticate.js';
import { jsonBody } from '../middleware/json-body.js';

/** An entry in the final dialect's field names. */
export function finalEntry(e: Entry): Record<string, string | number> {
  const out: Record<string, string | number> = {
    'gateway.metadata.id': e.id,
    'gateway.metadata.parent.id': e.parentId,
    'gateway.metadata.type': e.type,
    'gateway.metadata.name': e.name,
    'gateway.metadata.modified': e.modified,
  };
  if (e.type === 'file') {
    out['gateway.metadata.file.size'] = e.size ?? 0;
    out['gateway.metadata.file.hash'] = e.hash ?? '';
  }
  return out;
}

/** `gateway.metadata.modified`: optional epoch milliseconds. */
function modifiedOf(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw invalid(field, 'must be a positive integer (epoch milliseconds)');
  return v;
}

function pageOf(req: Request): string | undefined {
  const page = req.query.page;
  if (page === undefined || page === '') return undefined;
  if (typeof page !== 'string' || page.length > 2048) throw invalid('page', 'is not a page token of this listing');
  return page;
}

const idOf = (req: Request) => (typeof req.params.id === 'string' ? req.params.id : '');

/** Browse and organise: list, get entry, new folder, rename, move, delete (final dialect). */
export function metadataRoutes(services: GatewayServices, maxJsonBodyBytes: number): Router {
  const r = Router();
  const body = jsonBody(maxJsonBodyBytes);
  const auth = authenticate(services.sessions);
  const fs = services.files;

  r.get('/v2/gateway_metadata_children{/:id}', auth, async (req: Request, res: Response) => {
    const { entries, nextPage } = await fs.list(sessionOf(res).account, idOf(req), pageOf(req));
    if (nextPage) res.setHeader('X-Gateway-Page', nextPage);
    res.json(entries.map(finalEntry));
  });

  r.get('/v2/gateway_metadata{/:id}', auth, async (req: Request, res: Response) => {
    res.json(finalEntry(await fs.entry(sessionOf(res).account, idOf(req))));
  });

  r.post('/v2/gateway_metadata_folder{/:id}', auth, ...body, async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown>;
    const entry = await fs.createFolder(sessionOf(res).account, idOf(req), b['gateway.metadata.name'], modifiedOf(b, 'gateway.metadata.modified'));
    res.json(finalEntry(entry));
  });

  r.put('/v2/gateway_metadata_name/:id', auth, ...body, async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown>;
    res.json(finalEntry(await fs.rename(sessionOf(res).account, idOf(req), b['new.gateway.metadata.name'])));
  });

  r.put('/v2/gateway_metadata_parent/:id', auth, ...body, async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown>;
    res.json(finalEntry(await fs.move(sessionOf(res).account, idOf(req), b['new.gateway.metadata.parent.id'])));
  });

  r.delete('/v2/gateway_metadata/:id', auth, async (req: Request, res: Response) => {
    await fs.remove(sessionOf(res).account, idOf(req));
    res.json({});
  });

  return r;
}
