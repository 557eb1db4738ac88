/**
 * The trusted chain: services hop1 → hop2 → … on loopback, each protected by kestVerified with its
 * own identity, each calling the next with the Kest propagator. Each returns
 * `{"service": name, "next": <what the next returned>}`, the last `{"service", "status": "end_of_chain"}`.
 */

import type { RequestListener } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { getCurrentPassport, runWithPassport } from '../../src/context/context.js';
import { kestVerified } from '../../src/hook/verified.js';
import type { KestHttpOptions } from '../../src/http/core.js';
import { createKestFetch } from '../../src/http/fetch.js';
import type { PropagatorOptions } from '../../src/http/outbound.js';
import { receiveTips } from '../../src/http/response-tip.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import type { Passport } from '../../src/passport/passport.js';
import type { PolicyEngine } from '../../src/policy/types.js';
import { TIP_HEADER } from '../../src/wire/constants.js';
import { type Framework, type RunningService, startService } from './servers.js';

export interface HopConfig {
  name: string;
  framework: Framework;
  identity: IdentityProvider;
  /** Origin of the data this hop handles (trust model, docs/spec.md §4). Default `system`. */
  sourceType?: string;
  /** Sanitizer override this hop claims (only declared sanitizers may). */
  trustOverride?: number;
  /**
   * Rewrite the passport this hop sends downstream (demo --tamper, tests). Receives the hop's
   * passport (its own entry last); what it returns is what the next hop receives.
   */
  tamper?: (passport: Passport) => Passport | Promise<Passport>;
  /** Server options of this hop (trust, cache, identity interceptor, onRefusal, ...). */
  kest: KestHttpOptions;
  /** Serve over TLS (e.g. SPIFFE mutual TLS, mtls.ts). Default plain HTTP. */
  https?: (listener: RequestListener) => HttpsServer;
  /** The fetch this hop calls the next one with (e.g. over mTLS). Default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Sees every request this hop's route receives, as sent (demo --attack=replay records one). */
  onRequest?: (headers: Record<string, string>) => void;
}

export interface ChainConfig {
  hops: HopConfig[];
  engine: PolicyEngine;
  /** Function-tier policies every hop's handler is protected by. */
  policies: readonly string[];
  /** Outbound propagation options (claim-check cache, tiers). */
  propagation?: PropagatorOptions;
  /** Path of every hop's route. Default `/chain`. */
  path?: string;
}

/** A downstream refusal as the calling hop reports it. */
export interface RefusedCall {
  status: number;
  error?: string;
  message?: string;
  reason?: string;
  index?: number;
  entry_id?: string;
}

export interface HopResult {
  service: string;
  next?: HopResult | RefusedCall;
  status?: string;
}

export interface RunningChain {
  /** URL of the first hop. */
  url: string;
  services: RunningService[];
  /** How many times each hop's protected function body ran (by name). */
  calls: Map<string, number>;
  close(): Promise<void>;
}

/** Start the hops (last first, so each knows the next's URL). */
export async function startChain(config: ChainConfig): Promise<RunningChain> {
  const path = config.path ?? '/chain';
  const calls = new Map<string, number>(config.hops.map((h) => [h.name, 0]));
  const services: RunningService[] = [];
  let next: string | undefined;
  let nextId: string | undefined;
  try {
    for (let i = config.hops.length - 1; i >= 0; i--) {
      const hop = config.hops[i] as HopConfig;
      const downstream = next;
      // Passports go only to the next hop, named by its workload id: the audience of its handoffs.
      const hopFetch = createKestFetch({
        propagateTo: downstream && nextId ? { [new URL(downstream).origin]: nextId } : ['127.0.0.1'],
        ...(config.propagation ?? {}),
        ...(hop.fetch ? { fetch: hop.fetch } : {}),
      });
      const handle = kestVerified(
        async (): Promise<HopResult> => {
          calls.set(hop.name, (calls.get(hop.name) ?? 0) + 1);
          if (!downstream) return { service: hop.name, status: 'end_of_chain' };
          const send = () => hopFetch(downstream);
          const res = hop.tamper
            ? await runWithPassport(await hop.tamper(getCurrentPassport()), send)
            : await send();
          // send() ran in the tampered scope: hand the callee's tip to this call's completion
          if (hop.tamper) receiveTips(res.headers.get(TIP_HEADER));
          const body = (await res.json()) as unknown;
          return {
            service: hop.name,
            next: res.ok
              ? (body as HopResult)
              : { ...(body as Omit<RefusedCall, 'status'>), status: res.status },
          };
        },
        {
          policy: config.policies,
          engine: config.engine,
          identity: hop.identity,
          operation: `${hop.name}.handle`,
          sourceType: hop.sourceType ?? 'system',
          ...(hop.trustOverride !== undefined ? { trustOverride: hop.trustOverride } : {}),
        },
      );
      const service = await startService({
        framework: hop.framework,
        path,
        kest: hop.kest,
        handler: (req) => {
          hop.onRequest?.(req.headers);
          return handle();
        },
        ...(hop.https ? { https: hop.https } : {}),
      });
      services.unshift(service);
      next = service.url;
      nextId = hop.identity.getWorkloadId();
    }
  } catch (err) {
    await Promise.allSettled(services.map((s) => s.close()));
    throw err;
  }
  return {
    url: next as string,
    services,
    calls,
    close: async () => {
      await Promise.allSettled(services.map((s) => s.close()));
    },
  };
}
