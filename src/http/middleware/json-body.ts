import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { invalid } from '../../errors.js';

/**
 * JSON bodies with or without a Content-Type header (odrive's own clients send none). An empty body
 * reads as {}; anything but a JSON object is refused.
 */
export function jsonBody(limitBytes: number) {
  const parse = express.json({
    type: () => true,
    limit: limitBytes,
    strict: false,
    // body-parser would replace invalid bytes with U+FFFD, making names the client never sent.
    verify: (_req, _res, bytes, encoding) => {
      if (/^utf-?8$/i.test(encoding) && !isUtf8(bytes)) throw new Error('not UTF-8');
    },
  });
  return [
    parse,
    (req: Request, _res: Response, next: NextFunction) => {
      if (req.body === undefined || req.body === null) req.body = {};
      if (typeof req.body !== 'object' || Array.isArray(req.body)) {
        next(invalid('body', 'must be a JSON object'));
        return;
      }
      next();
    },
  ];
}
