import { pipeline } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { GatewayServices } from '../core/services.js';
import { readDeclaration } from '../core/transfers/declarations.js';
import { fieldError, GatewayError, invalid, type Field } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Dialect, Operation } from './dialects.js';
import { accessTokenOf, authenticateRequest, sessionOf } from './middleware/authenticate.js';
import { watchBodyIdle } from './middleware/body-idle-timeout.js';
import { jsonBody } from './middleware/json-body.js';
import {
  entriesJsonText,
  entryJson,
  readDeclarationInput,
  readFields,
  readSegmentHeader,
  readSegmentPlan,
  startedUploadJson,
  segmentJson,
  wireName,
} from './wire.js';

type Handler = (req: Request, res: Response, next: NextFunction) => unknown;

const idOf = (req: Request) => (typeof req.params.id === 'string' ? req.params.id : '');
const bodyOf = (req: Request) => req.body as Record<string, unknown>;

/** A JSON header (the upload headers): 400 naming it when absent or malformed. */
function jsonHeader(req: Request, d: Dialect, field: 'uploadHeader' | 'segmentHeader'): Record<string, unknown> {
  const received = req.get(wireName(d, field));
  if (!received) throw invalid(field, 'header is required');
  // Node reads header bytes as Latin-1; the header is UTF-8 JSON (names in it are usually percent-encoded).
  const bytes = Buffer.from(received, 'latin1');
  if (!isUtf8(bytes)) throw invalid(field, 'header is not valid UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(field, 'header is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'header must be a JSON object');
  return value as Record<string, unknown>;
}

function percentDecoded(value: unknown, field: Field): unknown {
  if (typeof value !== 'string') return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid(field, 'is not valid percent-encoding');
  }
}

/** A declared size that Content-Length already contradicts is refused before a byte is read. */
function checkContentLength(req: Request, declared: number, field: Field): void {
  const length = req.get('content-length');
  if (length !== undefined && Number(length) !== declared) throw invalid(field, `is ${declared} but the request's Content-Length is ${length}`);
}

function pageOf(req: Request): string | undefined {
  const page = req.query.page;
  if (page === undefined || page === '') return undefined;
  if (typeof page !== 'string' || page.length > 2048) throw invalid('page', 'is not a page token of this listing');
  return page;
}

interface Spec {
  /** Needs a session (everything but the sign-in calls). */
  auth: boolean;
  /** Reads a JSON body (uploads stream theirs instead); 'plan': a segment plan, allowed to be larger. */
  json: boolean | 'plan';
  handle(d: Dialect): Handler;
}

/**
 * Every operation once, written against a dialect's names. The core does the work; these only translate
 * between a dialect's fields and the core's values.
 */
function operations(s: GatewayServices): Record<Operation, Spec> {
  const refresh = async (d: Dialect, token: unknown, res: Response) => {
    if (token === undefined || token === null || token === '') throw invalid('refreshToken', 'is required');
    if (typeof token !== 'string') throw invalid('refreshToken', 'must be a string');
    const { tokens, account } = await s.sessions.refresh(token);
    res.locals.account = account.name;
    res.json(d.tokens(tokens, account, s.uploadSegmentSize));
  };

  const upload = (isNew: boolean) => (d: Dialect) => async (req: Request, res: Response) => {
    const header = jsonHeader(req, d, 'uploadHeader');
    const decl = readDeclaration(readDeclarationInput(d, header));
    checkContentLength(req, decl.size, 'size');
    const account = sessionOf(res).account;
    const { name } = readFields(d, header, ['name']);
    const entry = isNew
      ? await s.files.uploadNew(account, idOf(req), d.percentEncodedNames ? percentDecoded(name, 'name') : name, decl, req)
      : await s.files.update(account, idOf(req), decl, req);
    res.json(entryJson(d, entry));
  };

  const finish = (isNew: boolean) => (d: Dialect) => async (req: Request, res: Response) => {
    const b = bodyOf(req);
    const decl = readDeclaration(readDeclarationInput(d, b));
    const f = readFields(d, b, ['name', 'uploadId', 'cookie']);
    const target = isNew ? { parentId: idOf(req), name: f.name } : { id: idOf(req) };
    res.json(entryJson(d, await s.files.finishUpload(sessionOf(res).account, target, decl, f.uploadId, f.cookie)));
  };

  return {
    signInMethod: {
      auth: false,
      json: false,
      handle: (d) => async (req, res) => {
        if (s.signIn.kind === 'oauth') {
          if (!d.fields.oauthState) throw oauthInFinalDialectOnly();
          const { url, state } = await s.signIn.begin(req.ip ?? 'unknown');
          res.json({ 'gateway.auth.method': 'oauth', 'gateway.auth.oauth.url': url, 'gateway.auth.oauth.state': state });
          return;
        }
        res.json({
          'gateway.auth.method': 'form',
          'gateway.auth.form': s.signIn.form.map((f) => ({
            'gateway.auth.form.input.field.name': f.name,
            'gateway.auth.form.input.field.prompt': f.prompt,
            'gateway.auth.form.input.field.required': f.required,
            'gateway.auth.form.input.field.order': f.order,
          })),
        });
      },
    },
    signIn: {
      auth: false,
      json: true,
      handle: (d) => async (req, res) => {
        const b = bodyOf(req);
        const { refreshToken } = readFields(d, b, ['refreshToken']);
        if (d.refreshOnSignIn && refreshToken !== undefined) return refresh(d, refreshToken, res);
        let fields: Record<string, unknown> = b;
        if (s.signIn.kind === 'oauth') {
          if (!d.fields.oauthState) throw oauthInFinalDialectOnly();
          fields = readFields(d, b, ['oauthState']);
        }
        const { tokens, account } = await s.signIn.signIn(fields, req.ip ?? 'unknown');
        res.locals.account = account.name;
        res.json(d.tokens(tokens, account, s.uploadSegmentSize));
      },
    },
    refresh: { auth: false, json: true, handle: (d) => (req, res) => refresh(d, readFields(d, bodyOf(req), ['refreshToken']).refreshToken, res) },
    signOut: {
      auth: false,
      json: false,
      handle: () => async (req, res) => {
        if (!(await s.sessions.end(String(req.params.token)))) throw new GatewayError('not_found', 'No session has this access token.');
        res.json({});
      },
    },
    download: {
      auth: true,
      json: false,
      handle: () => async (req, res) => {
        const account = sessionOf(res).account;
        if (req.method === 'HEAD') {
          const head = await s.files.downloadHead(account, idOf(req));
          res
            .status(200)
            .set({
              'Content-Length': String(head.size),
              'Content-Type': head.contentType ?? 'application/octet-stream',
              ETag: head.httpEtag,
              'Last-Modified': head.lastModified.toUTCString(),
              'Accept-Ranges': 'bytes',
              'Content-Disposition': head.disposition,
              'Cache-Control': 'private',
            })
            .end();
          return;
        }
        const got = await s.files.download(account, idOf(req), {
          range: req.get('range'),
          ifRange: req.get('if-range'),
          ifNoneMatch: req.get('if-none-match'),
        });
        if (got.kind === 'redirect') return res.redirect(302, got.url);
        if (got.kind === 'not-modified') return res.status(304).set({ ETag: got.etag, 'Cache-Control': 'private' }).end();
        if (got.kind === 'unsatisfiable') {
          res.setHeader('Content-Range', `bytes */${got.size}`);
          throw fieldError('unsatisfiable', { field: 'range', problem: `selects no byte of this file (${got.size} bytes).` });
        }
        const o = got.object;
        res.status(o.status).set({
          'Content-Length': String(o.contentLength),
          'Content-Type': o.contentType ?? 'application/octet-stream',
          ETag: got.etag,
          'Last-Modified': o.lastModified.toUTCString(),
          'Accept-Ranges': 'bytes',
          'Content-Disposition': got.disposition,
          'Cache-Control': 'private',
          ...(o.contentRange ? { 'Content-Range': o.contentRange } : {}),
        });
        // pipeline keeps S3's pace to the client's (backpressure) and ends both sides if either fails.
        pipeline(o.body, res, () => undefined);
      },
    },
    thumbnail: {
      auth: true,
      json: false,
      handle: () => async (req, res) => {
        const t = await s.files.thumbnail(sessionOf(res).account, idOf(req));
        res
          .status(200)
          .set({ 'Content-Type': t.contentType, 'Content-Length': String(t.body.length), ETag: t.etag, 'Cache-Control': 'private' })
          .end(t.body);
      },
    },
    list: {
      auth: true,
      json: false,
      handle: (d) => async (req, res) => {
        const { entries, nextPage } = await s.files.list(sessionOf(res).account, idOf(req), pageOf(req));
        if (nextPage) res.setHeader(d.pageHeader, nextPage);
        res.type('json').send(entriesJsonText(d, entries));
      },
    },
    entry: { auth: true, json: false, handle: (d) => async (req, res) => res.json(entryJson(d, await s.files.entry(sessionOf(res).account, idOf(req)))) },
    newFolder: {
      auth: true,
      json: true,
      handle: (d) => async (req, res) => {
        const f = readFields(d, bodyOf(req), ['name', 'modified']);
        res.json(entryJson(d, await s.files.createFolder(sessionOf(res).account, idOf(req), f.name, f.modified)));
      },
    },
    remove: {
      auth: true,
      json: false,
      handle: () => async (req, res) => {
        await s.files.remove(sessionOf(res).account, idOf(req));
        res.json({});
      },
    },
    move: {
      auth: true,
      json: true,
      handle: (d) => async (req, res) =>
        res.json(entryJson(d, await s.files.move(sessionOf(res).account, idOf(req), readFields(d, bodyOf(req), ['newParentId']).newParentId))),
    },
    rename: {
      auth: true,
      json: true,
      handle: (d) => async (req, res) =>
        res.json(entryJson(d, await s.files.rename(sessionOf(res).account, idOf(req), readFields(d, bodyOf(req), ['newName']).newName))),
    },
    uploadNew: { auth: true, json: false, handle: upload(true) },
    update: { auth: true, json: false, handle: upload(false) },
    startUpload: {
      auth: true,
      json: 'plan',
      handle: (d) => async (req, res) => {
        const b = bodyOf(req);
        const target = readFields(d, b, ['fileId', 'parentId', 'name']);
        const { account, familyId } = sessionOf(res);
        const started = await s.files.startUpload(account, target, readDeclaration(readDeclarationInput(d, b)), readSegmentPlan(d, b), familyId);
        res.json(startedUploadJson(d, started));
      },
    },
    uploadSegment: {
      auth: true,
      json: false,
      handle: (d) => async (req, res) => {
        const header = readSegmentHeader(d, jsonHeader(req, d, 'segmentHeader'));
        if (typeof header.size === 'number') checkContentLength(req, header.size, 'segmentSize');
        const seg = await s.files.uploadSegment(sessionOf(res).account, idOf(req), header, req);
        res.json({ ...segmentJson(d, seg), [wireName(d, 'cookie')]: header.cookie });
      },
    },
    finishNewUpload: { auth: true, json: 'plan', handle: finish(true) },
    finishUpdateUpload: { auth: true, json: 'plan', handle: finish(false) },
    cancelUpload: {
      auth: true,
      json: false,
      handle: () => async (req, res) => {
        await s.files.cancelUpload(sessionOf(res).account, idOf(req));
        res.json({});
      },
    },
  };
}

/** The seed dialect has no oauth sign-in: its clients are told where to go. */
const oauthInFinalDialectOnly = () =>
  new GatewayError(
    'invalid',
    'This gateway signs in through the organisation’s identity provider (oauth), which only the Gateway API v2 offers: use GET /v2/gateway_auth_method.',
  );

const UPLOADS = new Set<Operation>(['uploadNew', 'update', 'uploadSegment']);

/**
 * What every request of a route goes through before its operation, as one step: names the operation for
 * the access log and metrics and the dialect errors are written in (first, so that a refusal below is
 * written in it), counts uploads while they run, watches the body for silence, applies the request limits
 * (per client address, and per access token where one is needed) and authenticates. One Express layer
 * instead of five: each layer is a turn of Express's router, a measurable part of a cheap request's CPU.
 */
function admission(s: GatewayServices, op: Operation, dialect: Dialect, withToken: boolean, idleMs: number, metrics: Metrics | undefined): Handler {
  const countUpload = metrics !== undefined && UPLOADS.has(op);
  return async (req, res, next) => {
    res.locals.operation = op;
    res.locals.dialect = dialect;
    if (countUpload) res.once('close', metrics.uploadStarted());
    watchBodyIdle(req, idleMs);
    const token = withToken ? accessTokenOf(req) : undefined;
    await s.requestLimit.admit(req.ip ?? 'unknown', token);
    if (withToken) await authenticateRequest(s.sessions, token, res);
    next();
  };
}

/** The routes of one dialect: its table, joined to the shared operations. */
export function dialectRouter(
  services: GatewayServices,
  dialect: Dialect,
  limits: { maxJsonBodyBytes: number; maxUploadPlanBytes: number; bodyIdleTimeoutMs: number },
  metrics?: Metrics,
): Router {
  const r = Router();
  const specs = operations(services);
  const body = jsonBody(limits.maxJsonBodyBytes);
  const plan = jsonBody(limits.maxUploadPlanBytes);
  for (const [op, route] of Object.entries(dialect.routes) as Array<[Operation, NonNullable<Dialect['routes'][Operation]>]>) {
    const spec = specs[op];
    const chain: Handler[] = [
      admission(services, op, dialect, spec.auth, limits.bodyIdleTimeoutMs, metrics),
      ...(spec.json === 'plan' ? plan : spec.json ? body : []),
      spec.handle(dialect),
    ];
    // (Express routes HEAD to GET handlers; the download handler answers it from HeadObject.)
    r[route.method](route.path, ...chain);
  }
  return r;
}
