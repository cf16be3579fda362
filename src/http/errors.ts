import type { NextFunction, Request, Response } from 'express';
import type { Account } from '../core/auth/accounts.js';
import type { Session } from '../core/auth/sessions.js';
import { fieldError, GatewayError, invalid, type ErrorKind } from '../errors.js';
import type { Logger } from '../log.js';
import type { Dialect } from './dialects.js';
import { errorInDialect } from './wire.js';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsatisfiable: 416,
  rate_limited: 429,
  bad_gateway: 502,
  unavailable: 503,
  timeout: 504,
};

/** body-parser's failures: all caused by what the client sent. */
function fromBodyParser(err: { type?: string; status?: number }): GatewayError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return invalid('body', 'is not valid JSON');
    case 'entity.verify.failed':
      return invalid('body', 'is not valid UTF-8');
    case 'entity.too.large':
      return fieldError('too_large', { field: 'body', problem: 'is larger than this gateway accepts' });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return invalid('body', 'has an unsupported encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return invalid('body', 'was not received whole');
    default:
      return err.status && err.status >= 400 && err.status < 500 ? new GatewayError('invalid', 'The request could not be read.', {}) : undefined;
  }
}

export function errorBody(status: number, code: string, message: string, requestId: string | undefined, field?: string) {
  return { error: code, status, message, ...(field ? { field } : {}), ...(requestId ? { requestId } : {}) };
}

/** In the names of the dialect that served the request (set by its router), so every client reads its own fields. */
function sendError(res: Response, err: GatewayError): void {
  const status = STATUS[err.kind];
  if (err.retryAfterSec !== undefined) res.setHeader('Retry-After', String(err.retryAfterSec));
  const { field, message } = errorInDialect(res.locals.dialect as Dialect | undefined, err);
  res.status(status).json(errorBody(status, err.kind, message, res.locals.requestId as string | undefined, field));
}

/**
 * Unread bytes of a body the gateway refused (an upload refused before or while it streamed) this
 * connection still reads and discards, so that the client hears the answer (see discardUnreadBody).
 */
const DISCARD_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A refused request's body still on its way. Closing a socket with unread bytes in it makes the kernel
 * reset the connection, and a client still sending then sees the reset instead of our answer (fetch
 * throws EPIPE). So a body of up to DISCARD_MAX_BYTES is read and dropped, keeping the connection; a
 * larger or unending one gets `Connection: close`, and the reset risk, rather than costing the bandwidth.
 */
function discardUnreadBody(req: Request, res: Response): void {
  const length = Number(req.headers['content-length']);
  if (req.destroyed || req.readableFlowing === false || !(length <= DISCARD_MAX_BYTES)) {
    res.setHeader('Connection', 'close');
    return;
  }
  req.resume();
}

/** The one place a failure becomes a response: a JSON error body, never a stack trace. */
export function errorHandler(logger: Logger, explain: (err: GatewayError, account: Account | undefined) => GatewayError = (err) => err) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const session = res.locals.session as Session | undefined;
    const known = err instanceof GatewayError ? explain(err, session?.account) : fromBodyParser(err as { type?: string; status?: number });
    if (res.headersSent) {
      // A stream broke after the status went out: all that is left is to cut the connection.
      logger.warn('response failed after headers were sent', { requestId: res.locals.requestId, error: String(err) });
      res.destroy();
      return;
    }
    if (known) {
      if (!req.complete) discardUnreadBody(req, res);
      if (known.kind === 'unavailable' || known.kind === 'timeout' || known.kind === 'bad_gateway') {
        logger.warn('backend failure', {
          requestId: res.locals.requestId,
          message: known.message,
          ...known.logDetails,
          cause: known.cause instanceof Error ? known.cause.message : typeof known.cause === 'string' ? known.cause : '',
        });
      }
      sendError(res, known);
      return;
    }
    logger.error('unexpected error', {
      requestId: res.locals.requestId,
      method: req.method,
      error: err instanceof Error ? err.stack : String(err),
    });
    res
      .status(500)
      .json(errorBody(500, 'internal', 'Unexpected error; the request id helps the operator find it in the log.', res.locals.requestId as string | undefined));
  };
}
