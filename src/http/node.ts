/**
 * kest/node: wrap a plain `node:http` request handler with the Kest server core.
 *
 *   http.createServer(kestNode(async (req, res) => { ... }, { trust }))
 *
 * The handler runs inside the Kest context only after the interceptors admitted the request; a
 * refusal is answered with JSON and the handler never runs. A Kest error the handler throws (or
 * rejects with) becomes its refusal (KestAuthorizationError → 403) when no response was started;
 * other errors answer 500 and are passed to `onError` (default: the configured logger).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getConfiguration } from '../config/config.js';
import { type Admission, KestHttpCore, type KestHttpOptions } from './core.js';
import type { Refusal } from './refusal.js';
import { captureTip, tipOnWriteHead } from './response-tip.js';

export type { KestHttpOptions } from './core.js';
export type { Refusal } from './refusal.js';

export type NodeHandler<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (req: Req, res: Res) => unknown;

export interface KestNodeOptions extends KestHttpOptions {
  /** Non-Kest errors of the handler (after a 500 was sent when possible). */
  onError?: (err: unknown, req: IncomingMessage) => void;
}

const ADMISSION = Symbol.for('kest.admission');

function send(res: ServerResponse, refusal: Refusal): void {
  const body = JSON.stringify(refusal.body);
  res.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...refusal.headers,
  });
  res.end(body);
}

export function kestNode<Req extends IncomingMessage, Res extends ServerResponse>(
  handler: NodeHandler<Req, Res>,
  options: KestNodeOptions | KestHttpCore = {},
): (req: Req, res: Res) => Promise<void> {
  const core = options instanceof KestHttpCore ? options : new KestHttpCore(options);
  const onError = options instanceof KestHttpCore ? undefined : options.onError;
  return async function kestHandler(req: Req, res: Res): Promise<void> {
    const request = { method: req.method, url: req.url, headers: req.headers };
    let admission: Admission;
    try {
      admission = await core.admit(req.headers, { ...request, socket: req.socket, raw: req });
    } catch (err) {
      const refusal = core.refuse(err, 'ingress', request) as Refusal; // ingress: always a refusal
      if (!res.headersSent) send(res, refusal);
      else res.destroy();
      return;
    }
    (req as unknown as Record<symbol, Admission>)[ADMISSION] = admission;
    try {
      await core.run(admission, () => {
        tipOnWriteHead(res, captureTip(admission.passport));
        return handler(req, res);
      });
    } catch (err) {
      const refusal = core.refuse(err, 'handler', request);
      if (!refusal) {
        if (onError) onError(err, req);
        else getConfiguration().logger.error({ err: String(err), url: req.url }, 'kest/node: handler failed');
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(
        res,
        refusal ?? { status: 500, body: { error: 'ERR_INTERNAL', message: 'internal error' }, headers: {} },
      );
    }
  };
}

/** What the lineage interceptor proved for this request. */
export function kestAdmission(req: IncomingMessage): Admission | undefined {
  return (req as unknown as Record<symbol, Admission | undefined>)[ADMISSION];
}
