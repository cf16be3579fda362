import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import type { GatewayServices } from '../core/services.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { errorHandler } from './errors.js';
import { accessLog } from './middleware/access-log.js';
import { oneLayer } from './middleware/one-layer.js';
import { requestId } from './middleware/request-id.js';
import { securityHeaders } from './middleware/security-headers.js';
import { DIALECTS } from './dialects.js';
import { dialectRouter } from './operations.js';
import { healthRoutes } from './routes/health.js';
import { oauthCallbackRoute } from './routes/oauth-callback.js';

export interface AppOptions {
  services: GatewayServices;
  logger: Logger;
  maxJsonBodyBytes: number;
  /** The segment plan of a large upload: up to 10,000 segments, so more than other JSON bodies. */
  maxUploadPlanBytes: number;
  bodyIdleTimeoutMs: number;
  trustProxy: boolean | number | string;
  /** Browser origins allowed by CORS; undefined: no CORS headers, browsers keep other sites out. */
  corsOrigins?: string[] | undefined;
  /** Counted when given; `serveMetrics` also answers GET /metrics on this app. */
  metrics?: Metrics;
  serveMetrics?: boolean;
  /** The path of OIDC_REDIRECT_URL, where the browser comes back from the identity provider (oidc mode). */
  oauthCallbackPath?: string | undefined;
}

/** GET /metrics in Prometheus' text format. */
export function metricsHandler(metrics: Metrics) {
  return async (_req: express.Request, res: express.Response) => {
    res.set('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}

export function createApp(o: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', o.trustProxy);
  app.set('query parser', 'simple');

  // Answers carry tokens and metadata: no cache keeps them. Downloads say `private` instead.
  const noStore: RequestHandler = (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
  const corsHeaders = o.corsOrigins
    ? [
        cors({
          origin: o.corsOrigins,
          allowedHeaders: [
            'Authorization',
            'Content-Type',
            'Range',
            'If-Range',
            'If-None-Match',
            'X-Request-Id',
            ...DIALECTS.flatMap((d) => [d.fields.uploadHeader, d.fields.segmentHeader ?? []].flat()),
          ],
          exposedHeaders: ['X-Request-Id', 'ETag', 'Content-Range', 'Retry-After', ...DIALECTS.map((d) => d.pageHeader)],
          maxAge: 600,
        }),
      ]
    : [];
  // (CORS answers a preflight itself, before the access log sees it.)
  app.use(oneLayer(requestId, securityHeaders(), noStore, ...corsHeaders, accessLog(o.logger, o.metrics)));
  app.use(healthRoutes(o.services));
  if (o.metrics && o.serveMetrics) app.get('/metrics', metricsHandler(o.metrics));
  if (o.oauthCallbackPath) app.use(oauthCallbackRoute(o.oauthCallbackPath, o.services.signIn));
  for (const dialect of DIALECTS)
    app.use(
      dialectRouter(
        o.services,
        dialect,
        { maxJsonBodyBytes: o.maxJsonBodyBytes, maxUploadPlanBytes: o.maxUploadPlanBytes, bodyIdleTimeoutMs: o.bodyIdleTimeoutMs },
        o.metrics,
      ),
    );

  app.use((req, _res, next) => {
    next(new GatewayError('not_found', `No such endpoint: ${req.method} ${req.path.split('/').slice(0, 3).join('/')}`));
  });
  app.use(errorHandler(o.logger, (err, account) => o.services.signIn.explain(err, account)));
  return app;
}
