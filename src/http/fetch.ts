/**
 * kest/fetch: outbound propagation for the Fetch API and undici (KEST-SPEC §5).
 *
 *   const res = await kestFetch('http://next/hop');                 // global fetch, wrapped
 *   const f = createKestFetch({ cache: redis });                    // own options / base fetch
 *   const agent = new Agent().compose(kestInterceptor());           // undici dispatcher
 *   await fetch(url, { dispatcher: agent });                        // works with Node's fetch too
 *
 * Every request carries the current passport (`baggage`) and span (`traceparent`); when the
 * passport cannot travel the request is not sent and the promise rejects with the Kest error.
 */
import type { Dispatcher } from 'undici';
import { OutboundPropagator, type PropagatorOptions } from './outbound.js';

export { type OutboundHeaders, OutboundPropagator, type PropagatorOptions } from './outbound.js';

export interface KestFetchOptions extends PropagatorOptions {
  /** The fetch to call. Default globalThis.fetch (looked up per call). */
  fetch?: typeof globalThis.fetch;
}

/** A fetch that adds the Kest headers to every request. */
export function createKestFetch(options: KestFetchOptions = {}): typeof globalThis.fetch {
  const propagator = new OutboundPropagator(options);
  return async function kestFetch(
    input: Parameters<typeof globalThis.fetch>[0],
    init?: RequestInit,
  ): Promise<Response> {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const extra = await propagator.headers({
      baggage: headers.get('baggage') ?? undefined,
      traceparent: headers.get('traceparent') ?? undefined,
    });
    if (extra.baggage !== undefined) headers.set('baggage', extra.baggage);
    else headers.delete('baggage');
    if (extra.traceparent) headers.set('traceparent', extra.traceparent);
    if (extra.tracestate) headers.set('tracestate', extra.tracestate);
    const base = options.fetch ?? globalThis.fetch;
    return base(input, { ...init, headers });
  };
}

/** Global fetch with the Kest headers (configuration from configure()). */
export const kestFetch: typeof globalThis.fetch = createKestFetch();

type HeaderRecord = Record<string, string | string[]>;

/** undici accepts headers as an object, a flat [k, v, k, v] array or an iterable of pairs. */
function toRecord(headers: unknown): HeaderRecord {
  const out: HeaderRecord = {};
  const put = (k: unknown, v: unknown) => {
    if (v === undefined || v === null) return;
    const key = String(k).toLowerCase();
    const value = Array.isArray(v) ? v.map(String) : String(v);
    const prev = out[key];
    out[key] = prev === undefined ? value : [...[prev].flat(), ...[value].flat()];
  };
  if (headers == null) return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) for (const [k, v] of headers) put(k, v);
    else for (let i = 0; i + 1 < headers.length; i += 2) put(headers[i], headers[i + 1]);
    return out;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of headers as Iterable<[unknown, unknown]>) put(k, v);
    return out;
  }
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) put(k, v);
  return out;
}

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

type Handler = Dispatcher.DispatchHandler & {
  onError?: (err: Error) => void;
};

/**
 * An undici interceptor (`Agent#compose`) that adds the Kest headers to every dispatched request.
 * The headers are computed in the caller's context (the dispatch happens inside fetch's call).
 */
export function kestInterceptor(options: PropagatorOptions = {}): Dispatcher.DispatcherComposeInterceptor {
  const propagator = new OutboundPropagator(options);
  return (dispatch) =>
    function kestDispatch(opts, handler) {
      const headers = toRecord(opts.headers);
      propagator.headers({ baggage: joined(headers.baggage), traceparent: joined(headers.traceparent) }).then(
        (extra) => {
          delete headers.baggage;
          if (extra.baggage !== undefined) headers.baggage = extra.baggage;
          if (extra.traceparent) headers.traceparent = extra.traceparent;
          if (extra.tracestate) headers.tracestate = extra.tracestate;
          dispatch({ ...opts, headers }, handler);
        },
        (err: Error) => {
          // Not sent: fail the request with the Kest error.
          const h = handler as Handler;
          if (typeof h.onResponseError === 'function') h.onResponseError(null as never, err);
          else h.onError?.(err);
        },
      );
      return true;
    };
}
