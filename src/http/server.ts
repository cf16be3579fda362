import http from 'node:http';
import type { Express } from 'express';
import { errorBody } from './errors.js';

/**
 * The HTTP server around the app. Requests Node refuses before Express sees them (headers too large,
 * malformed) still get the gateway's JSON error shape.
 */
export function createHttpServer(app: Express, opts: { maxHeaderBytes: number }): http.Server {
  // No limit on a whole request's duration (Node's default, 5 minutes, would cut off large uploads on slow
  // links): bodies that stall are cut off by their idle time instead (BODY_IDLE_TIMEOUT_MS).
  const server = http.createServer({ maxHeaderSize: opts.maxHeaderBytes, requestTimeout: 0 }, app);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify(
      tooLarge
        ? errorBody(status, 'too_large', 'headers: larger than this gateway accepts', undefined, 'headers')
        : errorBody(status, 'invalid', 'The request is not valid HTTP.', undefined),
    );
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
