import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';

// Where the previous request on a keep-alive connection stopped reading: Node reads a small request
// whole before the handler runs, so "bytes read since the handler started" would be zero.
const readUpTo = new WeakMap<Socket, number>();
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';

/**
 * One line per request; bytes are counted on the wire, headers included. The route is the pattern, never the URL: a URL can carry a token
 * (sign-out) or a file name, and neither belongs in a log.
 */
export function accessLog(logger: Logger, metrics?: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const socket = req.socket;
    const readAtStart = readUpTo.get(socket) ?? 0;
    const writtenAtStart = socket.bytesWritten;
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      readUpTo.set(socket, socket.bytesRead);
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : '(no route)';
      const status = res.headersSent ? res.statusCode : 0;
      const durationMs = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
      const bytesIn = socket.bytesRead - readAtStart;
      const bytesOut = socket.bytesWritten - writtenAtStart;
      const operation = typeof res.locals.operation === 'string' ? res.locals.operation : req.route ? route : 'unmatched';
      metrics?.request({ operation, method: req.method, status, seconds: durationMs / 1000, bytesIn, bytesOut });
      if (!logger.isInfoEnabled()) return;
      logger.info('request', {
        requestId: res.locals.requestId,
        method: req.method,
        route,
        status,
        durationMs,
        bytesIn,
        bytesOut,
        ...(res.locals.account ? { account: res.locals.account } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      });
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
