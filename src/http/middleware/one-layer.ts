import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Middlewares run as one Express layer. Every request walks each layer of the app in turn, and a turn of
 * Express's router costs more than these small steps themselves. A step that answers (never calls `next`)
 * ends the walk, one that passes an error hands it on, and one that calls `next` later carries on then.
 */
export function oneLayer(...steps: RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const run = (from: number): void => {
      for (let i = from; i < steps.length; i++) {
        let returned = false;
        let wentOn = false;
        void steps[i]!(req, res, (err?: unknown) => {
          if (err !== undefined) return next(err);
          if (returned) return run(i + 1);
          wentOn = true;
        });
        returned = true;
        if (!wentOn) return;
      }
      next();
    };
    run(0);
  };
}
