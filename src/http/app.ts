import express, { type Express } from 'express';
import type { GatewayServices } from '../core/services.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { errorHandler } from './errors.js';
import { accessLog } from './middleware/access-log.js';
import { requestId } from './middleware/request-id.js';
import { DIALECTS } from './dialects.js';
import { dialectRouter } from './operations.js';
import { healthRoutes } from './routes/health.js';

export interface AppOptions {
  services: GatewayServices;
  logger: Logger;
  maxJsonBodyBytes: number;
  trustProxy: boolean | number | string;
}

export function createApp(o: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', o.trustProxy);
  app.set('query parser', 'simple');

  app.use(requestId);
  app.use(accessLog(o.logger));
  app.use(healthRoutes(o.services));
  for (const dialect of DIALECTS) app.use(dialectRouter(o.services, dialect, o.maxJsonBodyBytes));

  app.use((req, _res, next) => {
    next(new GatewayError('not_found', `No such endpoint: ${req.method} ${req.path.split('/').slice(0, 3).join('/')}`));
  });
  app.use(errorHandler(o.logger));
  return app;
}
