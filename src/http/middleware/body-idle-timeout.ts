import type { Request } from 'express';

/**
 * Cuts off a request whose body stops arriving: after `idleMs` without a byte the request is destroyed,
 * which fails whatever reads it (an upload then commits nothing). Only while the body is being read: a
 * client waiting for a long answer is not idle.
 */
export function watchBodyIdle(req: Request, idleMs: number): void {
  if (req.complete) return;
  // (after the answer the socket may already be detached from the request)
  const stop = () => void (req.socket && req.setTimeout(0));
  req.setTimeout(idleMs, () => req.destroy(new Error(`no request body bytes for ${idleMs} ms`)));
  req.once('end', stop);
  req.once('close', stop);
}
