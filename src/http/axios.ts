/**
 * kest/axios: outbound propagation for axios (docs/spec.md §5) as a request interceptor.
 *
 *   const http = axios.create();
 *   installKestAxios(http, { cache });        // returns the interceptor id (for eject)
 *
 * Each request to a `propagateTo` destination carries the current passport (`baggage`) and span
 * (`traceparent`); other destinations get no kest.* member (unset: every destination, with one
 * warning per process). When the passport cannot travel the request is not sent: the axios
 * promise rejects with the Kest error.
 */
import type { AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { getCurrentScope, type PassportScope } from '../context/context.js';
import { TIP_HEADER } from '../wire/constants.js';
import {
  destinationOf,
  OutboundPropagator,
  type PropagatorOptions,
  warnUnrestrictedOnce,
} from './outbound.js';
import { receiveTips } from './response-tip.js';

export type { PropagateTo, PropagatorOptions } from './outbound.js';

/** The interceptor function itself (for `instance.interceptors.request.use`). */
export function kestAxiosInterceptor(
  options: PropagatorOptions = {},
): (config: InternalAxiosRequestConfig) => Promise<InternalAxiosRequestConfig> {
  const propagator = new OutboundPropagator(options);
  const unrestricted = options.propagateTo === undefined;
  return async (config) => {
    if (unrestricted) warnUnrestrictedOnce('kest axios interceptor');
    const current = (name: string) => {
      const v = config.headers.get(name);
      return typeof v === 'string' ? v : undefined;
    };
    const extra = await propagator.headers(
      { baggage: current('baggage'), traceparent: current('traceparent') },
      destinationOf(config.url ?? '', config.baseURL),
    );
    if (extra.baggage !== undefined) config.headers.set('baggage', extra.baggage);
    else config.headers.delete('baggage');
    if (extra.traceparent) config.headers.set('traceparent', extra.traceparent);
    if (extra.tracestate) config.headers.set('tracestate', extra.tracestate);
    if (extra.baggage !== undefined) (config as Tagged)[TIP_SCOPE] = getCurrentScope() ?? null;
    return config;
  };
}

const TIP_SCOPE = Symbol('kest.tipScope');
type Tagged = { [TIP_SCOPE]?: PassportScope | null };

/** The response interceptor: a Kest peer's `kest-tip` goes to the enclosing call (§11). */
export function kestAxiosTipInterceptor(): (response: AxiosResponse) => AxiosResponse {
  return (response) => {
    const scope = (response.config as Tagged)[TIP_SCOPE];
    const tip = response.headers[TIP_HEADER];
    if (scope) receiveTips(typeof tip === 'string' ? tip : undefined, scope);
    return response;
  };
}

/** Install the interceptors on an axios instance; returns the request interceptor's id. */
export function installKestAxios(instance: AxiosInstance, options: PropagatorOptions = {}): number {
  instance.interceptors.response.use(kestAxiosTipInterceptor());
  return instance.interceptors.request.use(kestAxiosInterceptor(options));
}
