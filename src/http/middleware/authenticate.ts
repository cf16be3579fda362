import type { NextFunction, Request, Response } from 'express';
import type { Session, SessionService } from '../../core/auth/sessions.js';

/** `Authorization: Bearer <token>`, or the bare token as some clients send it. */
export function accessTokenOf(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : header.trim() || undefined;
}

/** Requires a live session; puts it on `res.locals.session` (and the account name for the access log). */
export function authenticate(sessions: SessionService) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const session = await sessions.authenticate(accessTokenOf(req));
    res.locals.session = session;
    res.locals.account = session.account.name;
    next();
  };
}

export function sessionOf(res: Response): Session {
  return res.locals.session as Session;
}
