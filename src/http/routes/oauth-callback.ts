import { Router, type Request, type Response } from 'express';
import type { SignInService } from '../../core/auth/sign-in.js';
import { GatewayError } from '../../errors.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A tiny page, no script, no style: the app's deny-all CSP applies to it as to every answer. */
function page(res: Response, status: number, title: string, text: string): void {
  res
    .status(status)
    .type('html')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`,
    );
}

/**
 * Where the identity provider sends the browser back (the path of OIDC_REDIRECT_URL): the sign-in is
 * checked and recorded, and the person is told to return to odrive, which collects it with its state.
 */
export function oauthCallbackRoute(path: string, signIn: SignInService): Router {
  const r = Router();
  r.get(path, async (req: Request, res: Response) => {
    const query = new URLSearchParams(req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '');
    try {
      const outcome = await signIn.callback(query);
      if (outcome.ok) {
        const as = outcome.who ? ` as ${outcome.who}` : '';
        page(res, 200, 'Signed in', `You are signed in${as}. Return to odrive: it goes on by itself. You can close this window.`);
      } else page(res, outcome.status, 'Not signed in', outcome.message);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.kind !== 'unavailable') throw err;
      page(res, 503, 'Not signed in', `${err.message} Then start signing in again from odrive.`);
    }
  });
  return r;
}
