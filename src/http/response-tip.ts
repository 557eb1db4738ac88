/**
 * Response-side closure over HTTP (docs/spec.md §11). A server adapter answers every admitted
 * request with `kest-tip`: the open tip(s) of the request's scope when the response headers are
 * written — the hash of the last completion the handler's protected calls signed — with the
 * principal that signed each. Outbound propagators read it back and hand it to the enclosing call,
 * whose completion signs it into `kest.downstream`; the audit then requires that entry to exist.
 *
 * Headers go out before the body: a handler that starts its response (streams) inside a protected
 * call sends the tip as of that moment (that call's own completion is not in it; the audit still
 * requires it via `incomplete`). Handlers that call protected functions and then respond — the
 * usual shape — send the tip of their last completion.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { getCurrentScope, type PassportScope } from '../context/context.js';
import { receiveTips, tipsOf } from '../hook/completion.js';
import type { Passport } from '../passport/passport.js';
import { TIP_HEADER } from '../wire/constants.js';

export { receiveTips };

/** The request's scope (call inside core.run) and the passport it was admitted with. */
export interface TipSource {
  scope: PassportScope | undefined;
  start: Passport;
}

/** Capture the current (ingress) scope: call first thing inside core.run. */
export function captureTip(start: Passport): TipSource {
  return { scope: getCurrentScope(), start };
}

/** The `kest-tip` value for the request now, or undefined when it signed nothing. */
export function tipHeaderValue(source: TipSource): string | undefined {
  return tipsOf(source.scope, source.start);
}

/** Set `kest-tip` on a Node response just before its headers are written (any write path). */
export function tipOnWriteHead(res: ServerResponse, source: TipSource): void {
  const original = res.writeHead;
  res.writeHead = function writeHeadWithTip(this: ServerResponse, ...args: unknown[]) {
    const tip = tipHeaderValue(source);
    if (tip !== undefined && !this.headersSent) this.setHeader(TIP_HEADER, tip);
    return (original as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

const HANDLER_METHODS = [
  'onRequestStart',
  'onRequestUpgrade',
  'onResponseStart',
  'onResponseData',
  'onResponseEnd',
  'onResponseError',
  'onConnect',
  'onError',
  'onUpgrade',
  'onHeaders',
  'onData',
  'onComplete',
  'onBodySent',
  'onRequestSent',
] as const;

type AnyHandler = Record<string, ((...a: unknown[]) => unknown) | undefined>;

/** An undici handler that reads `kest-tip` from the response headers (both handler APIs). */
export function tipReadingHandler(
  handler: Dispatcher.DispatchHandler,
  scope: PassportScope | undefined,
): Dispatcher.DispatchHandler {
  const h = handler as unknown as AnyHandler;
  const out: AnyHandler = {};
  for (const m of HANDLER_METHODS) {
    const fn = h[m];
    if (typeof fn === 'function') out[m] = (...args: unknown[]) => fn.apply(h, args);
  }
  const onResponseStart = out.onResponseStart;
  if (onResponseStart) {
    out.onResponseStart = (controller, status, headers, ...rest) => {
      const v = (headers as Record<string, string | string[] | undefined> | undefined)?.[TIP_HEADER];
      receiveTips(Array.isArray(v) ? v.join(',') : v, scope);
      return onResponseStart(controller, status, headers, ...rest);
    };
  }
  const onHeaders = out.onHeaders;
  if (onHeaders) {
    out.onHeaders = (status, raw, ...rest) => {
      const pairs = (raw ?? []) as (Buffer | string)[];
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        if (String(pairs[i]).toLowerCase() === TIP_HEADER) receiveTips(String(pairs[i + 1]), scope);
      }
      return onHeaders(status, raw, ...rest);
    };
  }
  return out as unknown as Dispatcher.DispatchHandler;
}
