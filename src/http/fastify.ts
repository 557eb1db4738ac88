/**
 * kest/fastify: a Fastify 5 plugin running the Kest server core. It is not encapsulated (the
 * `skip-override` symbol, as fastify-plugin sets it), so its hooks cover the routes of the scope
 * that registers it:
 *
 *   await app.register(kestFastify, { trust });
 *   app.get('/x', async () => handle());   // handle = kestVerified(...)
 *
 * An `onRequest` hook runs the interceptors (a refusal replies and stops the request); every route
 * registered after the plugin has its handler run inside the Kest context (an `onRoute` wrapper,
 * which also survives body parsing) and its Kest errors turned into JSON refusals (403 on denial).
 * Register the plugin before the routes it protects.
 */
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
  RouteOptions,
} from 'fastify';
import { type Admission, KestHttpCore, type KestHttpOptions } from './core.js';
import type { Refusal } from './refusal.js';
import { captureTip, tipOnWriteHead } from './response-tip.js';

export type { KestHttpOptions } from './core.js';
export type { Refusal } from './refusal.js';

const ADMISSION = Symbol.for('kest.admission');

type WithAdmission = { [ADMISSION]?: Admission };

function send(reply: FastifyReply, refusal: Refusal): FastifyReply {
  return reply.code(refusal.status).headers(refusal.headers).send(refusal.body);
}

function info(req: FastifyRequest) {
  return { method: req.method, url: req.url, headers: req.headers };
}

/** Options of the plugin: the core's, or a ready core to share. */
export type KestFastifyOptions = KestHttpOptions & { core?: KestHttpCore };

function plugin(fastify: FastifyInstance, opts: KestFastifyOptions, done: (err?: Error) => void): void {
  const core = opts.core ?? new KestHttpCore(opts);

  fastify.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, next: (err?: Error) => void) => {
    core.admit(req.headers, { method: req.method, url: req.url, socket: req.raw.socket, raw: req }).then(
      (admission) => {
        (req as unknown as WithAdmission)[ADMISSION] = admission;
        // Later hooks (and, without a body to parse, the handler) continue inside the context.
        core.run(admission, () => next());
      },
      (err: unknown) => {
        const refusal = core.refuse(err, 'ingress', info(req));
        if (!refusal) {
          next(err as Error);
          return;
        }
        send(reply, refusal);
      },
    );
  });

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function kestRoute(this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) {
      const admission = (req as unknown as WithAdmission)[ADMISSION];
      const onError = (err: unknown) => {
        const refusal = core.refuse(err, 'handler', info(req));
        if (!refusal || reply.sent) throw err;
        return send(reply, refusal);
      };
      let result: unknown;
      try {
        // No admission: the route is outside the plugin's scope; run it as Fastify would.
        result = admission
          ? core.run(admission, () => {
              tipOnWriteHead(reply.raw, captureTip(admission.passport));
              return handler.call(this, req, reply);
            })
          : handler.call(this, req, reply);
      } catch (err) {
        return onError(err);
      }
      if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
        return Promise.resolve(result).catch(onError);
      }
      return result;
    } as RouteHandlerMethod;
  });
  done();
}

/** The plugin. Register it with `app.register(kestFastify, options)`. */
export const kestFastify: FastifyPluginCallback<KestFastifyOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'kest',
});

/** What the lineage interceptor proved for this request. */
export function kestAdmission(req: FastifyRequest): Admission | undefined {
  return (req as unknown as WithAdmission)[ADMISSION];
}
