/**
 * kest/express: Express 5 middleware running the Kest server core (lineage + identity
 * interceptors), and an error handler that turns Kest errors from protected handlers into JSON
 * refusals (KestAuthorizationError → 403).
 *
 *   app.use(kestExpress({ trust }));
 *   app.get('/x', async (req, res) => res.json(await handle()));   // handle = kestVerified(...)
 *   app.use(kestErrorHandler());            // or kest.errorHandler of the same instance
 *
 * Register the middleware before any route it protects: nothing after it runs on a refusal.
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { type Admission, KestHttpCore, type KestHttpOptions } from './core.js';
import type { Refusal } from './refusal.js';
import { captureTip, tipOnWriteHead } from './response-tip.js';

export type { KestHttpOptions } from './core.js';
export type { Refusal } from './refusal.js';

const ADMISSION = Symbol.for('kest.admission');

function send(res: Response, refusal: Refusal): void {
  res.status(refusal.status).set(refusal.headers).json(refusal.body);
}

/** The lineage (and optional identity) interceptor as Express middleware. */
export function kestExpress(
  options: KestHttpOptions | KestHttpCore = {},
): RequestHandler & { errorHandler: ErrorRequestHandler } {
  const core = options instanceof KestHttpCore ? options : new KestHttpCore(options);
  const middleware = function kestMiddleware(req: Request, res: Response, next: NextFunction): void {
    core.admit(req.headers, { method: req.method, url: req.url, socket: req.socket, raw: req }).then(
      (admission: Admission) => {
        (req as unknown as Record<symbol, Admission>)[ADMISSION] = admission;
        // Everything downstream (middleware, handlers, their promises) runs in the Kest context.
        core.run(admission, () => {
          tipOnWriteHead(res, captureTip(admission.passport));
          next();
        });
      },
      (err: unknown) => {
        const refusal = core.refuse(err, 'ingress', req);
        if (refusal && !res.headersSent) send(res, refusal);
        else next(err);
      },
    );
  };
  // The matching error handler, sharing this instance's logger and onRefusal hook.
  return Object.assign(middleware, { errorHandler: kestErrorHandler(core) });
}

/** Error middleware: Kest errors thrown by handlers become JSON refusals; other errors pass on. */
export function kestErrorHandler(options: KestHttpOptions | KestHttpCore = {}): ErrorRequestHandler {
  const core = options instanceof KestHttpCore ? options : new KestHttpCore(options);
  return function kestErrors(err: unknown, req: Request, res: Response, next: NextFunction): void {
    const refusal = core.refuse(err, 'handler', req);
    if (!refusal || res.headersSent) {
      next(err);
      return;
    }
    send(res, refusal);
  };
}

/** What the lineage interceptor proved for this request (undefined before kestExpress ran). */
export function kestAdmission(req: Request): Admission | undefined {
  return (req as unknown as Record<symbol, Admission | undefined>)[ADMISSION];
}
