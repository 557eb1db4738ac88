/**
 * `--spiffe` transport: the hops talk SPIFFE mutual TLS with their dev-agent SVIDs (kest/spiffe).
 *
 * hop1 is the edge: it serves plain HTTP to the demo's client (alice's Bearer token) and calls hop2
 * over mTLS. Every inner hop serves mTLS only and authorizes exactly the hop before it; every caller
 * authorizes exactly the hop after it. Each ingress binds the passport's tip to the mTLS peer
 * (`bindPeer`, on by default): hop2 admits hop1's passport only from hop1's SVID, and so on.
 */
import type { RequestListener } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { type Agent, fetch as undiciFetch } from 'undici';
import type { KestSpiffeError } from '../../src/spiffe/errors.js';
import { authorizeID } from '../../src/spiffe/tls/authorize.js';
import { SpiffeTlsServer } from '../../src/spiffe/tls/server.js';
import { spiffeUndiciAgent } from '../../src/spiffe/tls/undici.js';
import type { X509Source } from '../../src/spiffe/x509source.js';

/** How one hop is reached and how it calls the next (HopConfig's `https` and `fetch`). */
export interface HopTransport {
  /** The mTLS server around the hop's request listener; absent for the plain-HTTP edge. */
  https?: (listener: RequestListener) => HttpsServer;
  /** The fetch the hop calls the next one with (undici over mTLS); absent for the last hop. */
  fetch?: typeof globalThis.fetch;
}

export interface DemoMtls {
  /** One per hop, in order. */
  hops: HopTransport[];
  /** Connections an inner hop refused at the handshake (none in an honest run). */
  refused: { hop: string; error: KestSpiffeError }[];
  /** One line for the banner. */
  description: string;
  close(): Promise<void>;
}

/** A fetch over a SPIFFE mTLS dispatcher (undici's own fetch: the dispatcher is undici's Agent). */
function fetchOver(dispatcher: Agent): typeof globalThis.fetch {
  return ((input: Parameters<typeof globalThis.fetch>[0], init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as typeof globalThis.fetch;
}

/**
 * @param names       the hops' names (hop1, ...)
 * @param sources     each hop's X509Source (the same stream its SPIREProvider signs with)
 * @param workloadIds each hop's SPIFFE ID
 */
export function demoMtls(
  names: readonly string[],
  sources: readonly X509Source[],
  workloadIds: readonly string[],
): DemoMtls {
  const refused: DemoMtls['refused'] = [];
  const dispatchers: Agent[] = [];
  const hops = sources.map((source, i): HopTransport => {
    const hop: HopTransport = {};
    if (i > 0) {
      const mtls = new SpiffeTlsServer(source, {
        authorize: authorizeID(workloadIds[i - 1] as string),
        onRefused: (error) => refused.push({ hop: names[i] as string, error }),
      });
      hop.https = (listener) => mtls.createServer(listener);
    }
    if (i < sources.length - 1) {
      const dispatcher = spiffeUndiciAgent(source, { authorize: authorizeID(workloadIds[i + 1] as string) });
      dispatchers.push(dispatcher);
      hop.fetch = fetchOver(dispatcher);
    }
    return hop;
  });
  return {
    hops,
    refused,
    description: `SPIFFE mutual TLS between hops (${names.slice(1).join(', ')} serve mTLS only, each authorizing the hop before it; ${names[0]} is the plain-HTTP edge); passports bound to the mTLS peer`,
    close: async () => {
      await Promise.allSettled(dispatchers.map((d) => d.close()));
    },
  };
}
