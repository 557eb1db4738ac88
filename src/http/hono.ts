/**
 * kest/hono: Hono 4 middleware running the Kest server core on Web-standard Request/Response
 * (any runtime Hono runs on; the claim-check cache and trust source must be available there).
 *
 *   app.use('*', kestHono({ trust }));
 *   app.get('/x', async (c) => c.json(await handle()));   // handle = kestVerified(...)
 *
 * A refusal returns the JSON response and the handler never runs. A Kest error thrown by the
 * handler (e.g. KestAuthorizationError) replaces the response with its refusal (403).
 */
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { TIP_HEADER } from '../wire/constants.js';
import { type Admission, type IncomingHeaders, KestHttpCore, type KestHttpOptions } from './core.js';
import type { Refusal } from './refusal.js';
import { captureTip, type TipSource, tipHeaderValue } from './response-tip.js';

export type { KestHttpOptions } from './core.js';
export type { Refusal } from './refusal.js';

const ADMISSION = 'kest.admission';

function toResponse(refusal: Refusal): Response {
  return new Response(JSON.stringify(refusal.body), {
    status: refusal.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...refusal.headers },
  });
}

/**
 * The request headers. On @hono/node-server the Node request is in `c.env.incoming`: reading its
 * header object avoids materialising a Fetch `Headers` (measurable on the hot path). Elsewhere,
 * the Web-standard request's headers.
 */
function requestHeaders(c: Context): IncomingHeaders {
  const incoming = (c.env as { incoming?: { headers?: unknown } } | undefined)?.incoming;
  const h = incoming?.headers;
  return h && typeof h === 'object' && !(h instanceof Headers)
    ? (h as Record<string, string | string[] | undefined>)
    : c.req.raw.headers;
}

/** The Node socket on @hono/node-server (for mTLS peer checks); undefined on other runtimes. */
function nodeSocket(c: Context): Socket | undefined {
  return (c.env as { incoming?: { socket?: Socket } } | undefined)?.incoming?.socket;
}

function info(c: Context) {
  return { method: c.req.method, url: c.req.url, headers: c.req.raw.headers };
}

/** Set kest-tip on the response; a Response with immutable headers is re-wrapped. */
function setTip(c: Context, value: string): void {
  try {
    c.res.headers.set(TIP_HEADER, value);
  } catch {
    const res = new Response(c.res.body, c.res);
    res.headers.set(TIP_HEADER, value);
    c.res = undefined;
    c.res = res;
  }
}

export function kestHono(options: KestHttpOptions | KestHttpCore = {}): MiddlewareHandler {
  const core = options instanceof KestHttpCore ? options : new KestHttpCore(options);
  return async function kestMiddleware(c: Context, next: Next): Promise<Response | undefined> {
    let admission: Admission;
    try {
      admission = await core.admit(requestHeaders(c), {
        method: c.req.method,
        url: c.req.url,
        socket: nodeSocket(c),
        raw: c,
      });
    } catch (err) {
      const refusal = core.refuse(err, 'ingress', info(c));
      if (!refusal) throw err;
      return toResponse(refusal);
    }
    c.set(ADMISSION as never, admission as never);
    let tip: TipSource | undefined;
    await core.run(admission, () => {
      tip = captureTip(admission.passport);
      return next();
    });
    // Hono catches handler errors into c.error (after app.onError built a response): map ours.
    if (c.error) {
      const refusal = core.refuse(c.error, 'handler', info(c));
      if (refusal) {
        c.res = undefined;
        c.res = toResponse(refusal);
      }
    }
    // A Response's headers are sent with it: the tip as of the handler's return (§11).
    const value = tip && tipHeaderValue(tip);
    if (value !== undefined) setTip(c, value);
    return undefined;
  };
}

/** What the lineage interceptor proved for this request. */
export function kestAdmission(c: Context): Admission | undefined {
  return c.get(ADMISSION as never) as Admission | undefined;
}
