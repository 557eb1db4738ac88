/**
 * A SPIFFE Workload API client over @grpc/grpc-js (Unix socket or TCP). One channel per client;
 * every call carries the `workload.spiffe.io: true` metadata. The streaming calls return a handle
 * with `cancel()`; reconnection is the job of X509Source, which sits on top.
 */
import * as grpc from '@grpc/grpc-js';
import { BundleSet, SpiffeBundle } from './bundle.js';
import { endpointFromEnv, parseEndpoint, type WorkloadEndpoint } from './endpoint.js';
import { KestSpiffeError } from './errors.js';
import {
  type JWTBundlesResponseMessage,
  type JWTSVIDResponseMessage,
  WORKLOAD_API_HEADER,
  workloadApiService,
  type X509BundlesResponseMessage,
  type X509SVIDResponseMessage,
} from './proto.js';
import { TrustDomain } from './spiffeid.js';
import { X509SVID } from './x509svid.js';

export interface WorkloadApiClientOptions {
  /** `unix:///path`, `tcp://IP:port` or an absolute socket path; default SPIFFE_ENDPOINT_SOCKET. */
  address?: string;
  /** Deadline of unary calls and of the first message of fetch* calls (ms). Default 5000. */
  timeoutMs?: number;
}

/** What one FetchX509SVID message says: the SVIDs, and the bundles to trust (own + federated). */
export interface X509Context {
  readonly svids: readonly X509SVID[];
  readonly bundles: BundleSet;
}

export interface JwtSvid {
  readonly spiffeId: string;
  readonly token: string;
  readonly hint: string;
}

export interface StreamHandle {
  cancel(): void;
}

type ServiceClient = grpc.Client &
  Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown> & grpc.ClientUnaryCall>;

function metadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(WORKLOAD_API_HEADER, 'true');
  return md;
}

function wrapGrpcError(what: string, err: unknown): KestSpiffeError {
  const e = err as grpc.ServiceError;
  const status = typeof e?.code === 'number' ? ` (${grpc.status[e.code] ?? e.code})` : '';
  return new KestSpiffeError(
    'workload_api',
    `Workload API ${what} failed${status}: ${e?.details || e?.message || String(err)}`,
    {
      cause: err,
    },
  );
}

/** Convert a FetchX509SVID message. Throws KestSpiffeError on any malformed part. */
export function parseX509SVIDResponse(msg: X509SVIDResponseMessage): X509Context {
  if (!msg.svids || msg.svids.length === 0) {
    throw new KestSpiffeError('workload_api', 'Workload API returned no X.509-SVIDs');
  }
  const bundles = new BundleSet();
  const svids = msg.svids.map((s) => {
    const svid = X509SVID.parse(s.x509_svid, s.x509_svid_key, s.hint ?? '');
    if (s.spiffe_id && s.spiffe_id !== svid.id.toString()) {
      throw new KestSpiffeError(
        'invalid_svid',
        `Workload API SVID for ${s.spiffe_id} carries the ID ${svid.id}`,
      );
    }
    if (s.bundle && s.bundle.length > 0 && !bundles.getBundleForTrustDomain(svid.id.trustDomain)) {
      bundles.add(SpiffeBundle.fromDer(svid.id.trustDomain, s.bundle));
    }
    return svid;
  });
  for (const [td, der] of Object.entries(msg.federated_bundles ?? {})) {
    const trustDomain = TrustDomain.parse(td);
    // The SVIDs' own bundles win over a federated entry for the same trust domain.
    if (!bundles.getBundleForTrustDomain(trustDomain)) bundles.add(SpiffeBundle.fromDer(trustDomain, der));
  }
  return { svids, bundles };
}

export function parseX509BundlesResponse(msg: X509BundlesResponseMessage): BundleSet {
  const set = new BundleSet();
  for (const [td, der] of Object.entries(msg.bundles ?? {}))
    set.add(SpiffeBundle.fromDer(TrustDomain.parse(td), der));
  return set;
}

export class WorkloadApiClient {
  readonly endpoint: WorkloadEndpoint;
  readonly #client: ServiceClient;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(options: WorkloadApiClientOptions = {}) {
    const address = endpointFromEnv(options.address);
    if (!address) {
      throw new KestSpiffeError(
        'invalid_endpoint',
        'no Workload API address: set SPIFFE_ENDPOINT_SOCKET or pass address',
      );
    }
    this.endpoint = parseEndpoint(address);
    this.#timeoutMs = options.timeoutMs ?? 5000;
    const Ctor = workloadApiService();
    this.#client = new Ctor(this.endpoint.target, grpc.credentials.createInsecure(), {
      // A local agent: fail fast and let the caller's backoff decide when to retry.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
    }) as unknown as ServiceClient;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stream FetchX509SVID: `onUpdate` for each valid message, `onError` once when the stream ends. */
  watchX509Context(
    onUpdate: (ctx: X509Context) => void,
    onError: (err: KestSpiffeError) => void,
  ): StreamHandle {
    return this.#watch(
      'FetchX509SVID',
      (m) => parseX509SVIDResponse(m as X509SVIDResponseMessage),
      onUpdate,
      onError,
    );
  }

  /** Stream FetchX509Bundles. */
  watchX509Bundles(
    onUpdate: (bundles: BundleSet) => void,
    onError: (err: KestSpiffeError) => void,
  ): StreamHandle {
    return this.#watch(
      'FetchX509Bundles',
      (m) => parseX509BundlesResponse(m as X509BundlesResponseMessage),
      onUpdate,
      onError,
    );
  }

  /** Stream FetchJWTBundles: trust domain name → SPIFFE bundle JSON with jwt-svid keys. */
  watchJWTBundles(
    onUpdate: (bundles: BundleSet) => void,
    onError: (err: KestSpiffeError) => void,
  ): StreamHandle {
    return this.#watch(
      'FetchJWTBundles',
      (m) => {
        const set = new BundleSet();
        for (const [td, json] of Object.entries((m as JWTBundlesResponseMessage).bundles ?? {})) {
          set.add(SpiffeBundle.fromJwks(TrustDomain.parse(td), Buffer.from(json).toString('utf8')));
        }
        return set;
      },
      onUpdate,
      onError,
    );
  }

  /** The first FetchX509SVID message. */
  fetchX509Context(): Promise<X509Context> {
    return this.#first((u, e) => this.watchX509Context(u, e));
  }

  fetchX509Bundles(): Promise<BundleSet> {
    return this.#first((u, e) => this.watchX509Bundles(u, e));
  }

  fetchJWTBundles(): Promise<BundleSet> {
    return this.#first((u, e) => this.watchJWTBundles(u, e));
  }

  /** FetchJWTSVID for an audience (optionally for one of several SPIFFE IDs). */
  fetchJWTSVID(options: { audience: string[]; spiffeId?: string }): Promise<JwtSvid[]> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#client.FetchJWTSVID!(
        { audience: options.audience, spiffe_id: options.spiffeId ?? '' },
        metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err: grpc.ServiceError | null, res: JWTSVIDResponseMessage) => {
          if (err) return reject(wrapGrpcError('FetchJWTSVID', err));
          resolve(res.svids.map((s) => ({ spiffeId: s.spiffe_id, token: s.svid, hint: s.hint ?? '' })));
        },
      );
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new KestSpiffeError('closed', 'Workload API client is closed');
  }

  #watch<T>(
    method: string,
    convert: (msg: unknown) => T,
    onUpdate: (value: T) => void,
    onError: (err: KestSpiffeError) => void,
  ): StreamHandle {
    this.#assertOpen();
    const call = this.#client[method]!({}, metadata()) as grpc.ClientReadableStream<unknown>;
    let done = false;
    const finish = (err: KestSpiffeError) => {
      if (done) return;
      done = true;
      call.cancel();
      onError(err);
    };
    call.on('data', (msg: unknown) => {
      if (done) return;
      let value: T;
      try {
        value = convert(msg);
      } catch (err) {
        finish(err instanceof KestSpiffeError ? err : wrapGrpcError(method, err));
        return;
      }
      onUpdate(value);
    });
    call.on('error', (err) => finish(wrapGrpcError(method, err)));
    call.on('end', () => finish(new KestSpiffeError('workload_api', `Workload API ${method} stream ended`)));
    return {
      cancel: () => {
        if (done) return;
        done = true;
        call.cancel();
      },
    };
  }

  #first<T>(watch: (u: (v: T) => void, e: (err: KestSpiffeError) => void) => StreamHandle): Promise<T> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        handle.cancel();
        reject(
          new KestSpiffeError('workload_api', `Workload API did not answer within ${this.#timeoutMs} ms`),
        );
      }, this.#timeoutMs);
      const handle = watch(
        (v) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          handle.cancel();
          resolve(v);
        },
        (err) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
