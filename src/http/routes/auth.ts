import { Router, type Request, type Response } from 'express';
import type { Account } from '../../core/auth/accounts.js';
import type { TokenPair } from '../../core/auth/sessions.js';
import { GatewayError, invalid } from '../../core/errors.js';
import { ROOT_ID } from '../../core/ids.js';
import type { GatewayServices } from '../../core/services.js';
import { jsonBody } from '../middleware/json-body.js';

function tokenResponse(tokens: TokenPair, account: Account, segmentSize: number) {
  return {
    'gateway.auth.access.token': tokens.accessToken,
    'gateway.auth.refresh.token': tokens.refreshToken,
    'gateway.auth.metadata.id': ROOT_ID,
    // odrive's published spec names the root this way; its example client reads the key above.
    'gateway.auth.metadata.content.id': ROOT_ID,
    'gateway.auth.id': account.authId,
    'gateway.upload.segment.size': segmentSize,
  };
}

/** Sign-in method, sign-in, refresh and sign-out in the final (odrive) dialect. */
export function authRoutes(services: GatewayServices, maxJsonBodyBytes: number): Router {
  const r = Router();
  const body = jsonBody(maxJsonBodyBytes);

  r.get('/v2/gateway_auth_method', (_req, res) => {
    res.json({
      'gateway.auth.method': 'form',
      'gateway.auth.form': services.signIn.form.map((f) => ({
        'gateway.auth.form.input.field.name': f.name,
        'gateway.auth.form.input.field.prompt': f.prompt,
        'gateway.auth.form.input.field.required': f.required,
        'gateway.auth.form.input.field.order': f.order,
      })),
    });
  });

  r.post('/v2/gateway_auth', ...body, async (req: Request, res: Response) => {
    const { tokens, account } = await services.signIn.signIn(req.body as Record<string, unknown>, req.ip ?? 'unknown');
    res.locals.account = account.name;
    res.json(tokenResponse(tokens, account, services.uploadSegmentSize));
  });

  r.post('/v2/gateway_auth_access', ...body, async (req: Request, res: Response) => {
    const field = 'gateway.auth.refresh.token';
    const token: unknown = (req.body as Record<string, unknown>)[field];
    if (token === undefined || token === null || token === '') throw invalid(field, 'is required');
    if (typeof token !== 'string') throw invalid(field, 'must be a string');
    const { tokens, account } = await services.sessions.refresh(token);
    res.locals.account = account.name;
    res.json(tokenResponse(tokens, account, services.uploadSegmentSize));
  });

  r.delete('/v2/gateway_auth/:token', async (req: Request, res: Response) => {
    const ended = await services.sessions.end(String(req.params.token));
    if (!ended) throw new GatewayError('not_found', 'No session has this access token.');
    res.json({});
  });

  return r;
}
