/**
 * kest/fetch: outbound propagation for the Fetch API and undici (docs/spec.md §5).
 *
 *   const res = await kestFetch('http://next/hop');                 // global fetch, wrapped
 *   const f = createKestFetch({ cache: redis });                    // own options / base fetch
 *   const agent = new Agent().compose(kestInterceptor());           // undici dispatcher
 *   await fetch(url, { dispatcher: agent });                        // works with Node's fetch too
 *
 * Every request to a `propagateTo` destination carries the current passport (`baggage`) and span
 * (`traceparent`); when the passport cannot travel the request is not sent and the promise rejects
 * with the Kest error. Other destinations get no kest.* member. `propagateTo` is required for the
 * dispatcher interceptor; kestFetch without it sends everywhere and warns once per process.
 */
import type { Dispatcher } from 'undici';
import { getCurrentScope } from '../context/context.js';
import { KestConfigurationError } from '../errors.js';
import { TIP_HEADER } from '../wire/constants.js';
import {
  destinationOf,
  OutboundPropagator,
  type PropagatorOptions,
  warnUnrestrictedOnce,
} from './outbound.js';
import { receiveTips, tipReadingHandler } from './response-tip.js';

export {
  type OutboundHeaders,
  OutboundPropagator,
  type PropagateTo,
  type PropagatorOptions,
} from './outbound.js';

export interface KestFetchOptions extends PropagatorOptions {
  /** The fetch to call. Default globalThis.fetch (looked up per call). */
  fetch?: typeof globalThis.fetch;
}

/** A fetch that adds the Kest headers to every request. */
export function createKestFetch(options: KestFetchOptions = {}): typeof globalThis.fetch {
  const propagator = new OutboundPropagator(options);
  const unrestricted = options.propagateTo === undefined;
  return async function kestFetch(
    input: Parameters<typeof globalThis.fetch>[0],
    init?: RequestInit,
  ): Promise<Response> {
    if (unrestricted) warnUnrestrictedOnce('kestFetch');
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const url = input instanceof Request ? input.url : input instanceof URL ? input.href : String(input);
    const extra = await propagator.headers(
      {
        baggage: headers.get('baggage') ?? undefined,
        traceparent: headers.get('traceparent') ?? undefined,
      },
      destinationOf(url),
    );
    if (extra.baggage !== undefined) headers.set('baggage', extra.baggage);
    else headers.delete('baggage');
    if (extra.traceparent) headers.set('traceparent', extra.traceparent);
    if (extra.tracestate) headers.set('tracestate', extra.tracestate);
    const base = options.fetch ?? globalThis.fetch;
    const scope = getCurrentScope();
    const res = await base(input, { ...init, headers });
    // The callee's final tip goes to the enclosing call's completion (§11), from Kest peers only.
    if (extra.baggage !== undefined) receiveTips(res.headers.get(TIP_HEADER), scope);
    return res;
  };
}

/**
 * Global fetch with the Kest headers (configuration from configure()), to every destination: prefer
 * createKestFetch({ propagateTo }) so third-party hosts never receive Kest members.
 */
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
 * An undici interceptor (`Agent#compose`) that adds the Kest headers to dispatched requests to the
 * `propagateTo` destinations (required: a dispatcher, possibly the global one, reaches any host).
 * The headers are computed in the caller's context (the dispatch happens inside fetch's call).
 */
export function kestInterceptor(options: PropagatorOptions): Dispatcher.DispatcherComposeInterceptor {
  if (options?.propagateTo === undefined) {
    throw new KestConfigurationError(
      "kestInterceptor needs propagateTo (origins or host patterns of your Kest services, or '*'): a dispatcher may reach third-party hosts",
    );
  }
  const propagator = new OutboundPropagator(options);
  return (dispatch) =>
    function kestDispatch(opts, handler) {
      const headers = toRecord(opts.headers);
      const destination = destinationOf(
        opts.path ?? '/',
        opts.origin === undefined ? undefined : String(opts.origin),
      );
      propagator
        .headers({ baggage: joined(headers.baggage), traceparent: joined(headers.traceparent) }, destination)
        .then(
          (extra) => {
            delete headers.baggage;
            if (extra.baggage !== undefined) headers.baggage = extra.baggage;
            if (extra.traceparent) headers.traceparent = extra.traceparent;
            if (extra.tracestate) headers.tracestate = extra.tracestate;
            const tips =
              extra.baggage !== undefined ? tipReadingHandler(handler, getCurrentScope()) : handler;
            dispatch({ ...opts, headers }, tips);
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
