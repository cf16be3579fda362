import { Router } from 'express';
import type { GatewayServices } from '../../core/services.js';

/** Liveness for process supervisors, readiness for load balancers. */
export function healthRoutes(services: GatewayServices): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const report = await services.readiness();
    if (!report.ready) res.setHeader('Retry-After', '5');
    res.status(report.ready ? 200 : 503).json({ status: report.ready ? 'ready' : 'not ready', checks: report.checks });
  });
  return r;
}
