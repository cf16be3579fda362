import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/**
 * Security headers on every answer: nosniff, no framing, no referrer, and a CSP that allows nothing at
 * all (helmet's defaults, which allow scripts and styles from 'self', are not merged in).
 *
 * helmet decides the headers; they depend on nothing in the request, so they are taken from it once, at
 * start, and set from that list: helmet's chain of a dozen middlewares on every request cost more than
 * the rest of a cheap request's own work.
 */
export function securityHeaders(): RequestHandler {
  const decide = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], sandbox: [] } },
  });
  const headers: Array<[string, string]> = [];
  let finished = false;
  const recorder = {
    setHeader: (name: string, value: string) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  decide({} as Request, recorder as unknown as Response, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error('helmet refused its own options');
    finished = true;
  });
  // A helmet that one day looks at the request, or answers later, must not be frozen like this.
  if (!finished) throw new Error('helmet did not decide its headers at once');
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}
