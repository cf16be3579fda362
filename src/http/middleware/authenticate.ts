import type { NextFunction, Request, Response } from 'express';
import type { Session, SessionService } from '../../core/auth/sessions.js';

/** `Authorization: Bearer <token>`, or the bare token as some clients send it. */
export function accessTokenOf(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : header.trim() || undefined;
}

/** Requires a live session for `accessToken`; puts it on `res.locals.session` (and the account name for the access log). */
export async function authenticateRequest(sessions: SessionService, accessToken: string | undefined, res: Response): Promise<Session> {
  const session = await sessions.authenticate(accessToken);
  res.locals.session = session;
  res.locals.account = session.account.name;
  return session;
}

/** `authenticateRequest` as a middleware, for routes outside the dialect tables. */
export function authenticate(sessions: SessionService) {
  return async (req: Request, res: Response, next: NextFunction) => {
    await authenticateRequest(sessions, accessTokenOf(req), res);
    next();
  };
}

export function sessionOf(res: Response): Session {
  return res.locals.session as Session;
}
