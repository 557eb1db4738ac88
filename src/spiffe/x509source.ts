/**
 * X509Source: always holds the current X.509-SVID and bundles from one long-lived FetchX509SVID
 * stream. Rotations pushed by the agent replace them atomically; a dropped stream is re-opened with
 * exponential backoff (with jitter) while the last SVID stays in place — whether it is still usable
 * (not expired) is for the consumer to check at use time, as SPIREProvider does.
 */
import type { BundleSet, BundleSource, SpiffeBundle } from './bundle.js';
import { KestSpiffeError } from './errors.js';
import type { TrustDomain } from './spiffeid.js';
import {
  type StreamHandle,
  WorkloadApiClient,
  type WorkloadApiClientOptions,
  type X509Context,
} from './workloadapi.js';
import type { X509SVID } from './x509svid.js';

export interface X509SourceOptions extends WorkloadApiClientOptions {
  /** Use this client instead of creating one (the source then does not close it). */
  client?: WorkloadApiClient;
  /** Pick the SVID with this SPIFFE ID; default: the first the agent sends (SPIRE's default SVID). */
  spiffeId?: string;
  /** Custom choice among several SVIDs (by hint, ...). Overrides spiffeId. */
  picker?: (svids: readonly X509SVID[]) => X509SVID | undefined;
  /** How long create() waits for the first SVID, retrying, before giving up (ms). Default 5000. */
  startTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap (ms). Defaults 100 and 5000. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export type X509SourceListener = (ctx: { svid: X509SVID; bundles: BundleSet }) => void;

export class X509Source implements BundleSource {
  readonly client: WorkloadApiClient;
  readonly #ownsClient: boolean;
  readonly #pick: (svids: readonly X509SVID[]) => X509SVID | undefined;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #listeners = new Set<X509SourceListener>();
  #svid: X509SVID | undefined;
  #bundles: BundleSet | undefined;
  #stream: StreamHandle | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;
  #lastError: KestSpiffeError | undefined;
  #updates = 0;

  private constructor(options: X509SourceOptions) {
    this.client = options.client ?? new WorkloadApiClient(options);
    this.#ownsClient = !options.client;
    this.#pick =
      options.picker ??
      (options.spiffeId
        ? (svids) => svids.find((s) => s.id.toString() === options.spiffeId)
        : (svids) => svids[0]);
    this.#backoffInitial = options.backoffInitialMs ?? 100;
    this.#backoffMax = options.backoffMaxMs ?? 5000;
  }

  /**
   * Connect and wait for the first SVID. Rejects with KestSpiffeError('workload_api') when none
   * arrives within startTimeoutMs (agent down, no identity for this workload).
   */
  static async create(options: X509SourceOptions = {}): Promise<X509Source> {
    const source = new X509Source(options);
    const timeoutMs = options.startTimeoutMs ?? 5000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          const last = source.#lastError;
          reject(
            new KestSpiffeError(
              'workload_api',
              `no X.509-SVID from the Workload API at ${source.client.endpoint.address} within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`,
              { cause: last },
            ),
          );
        }, timeoutMs);
        const unsubscribe = source.onUpdate(() => {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        });
        source.#connect();
      });
    } catch (err) {
      await source.close();
      throw err;
    }
    return source;
  }

  /** The current SVID. Throws when the source is closed or has none; expiry is the caller's check. */
  getX509SVID(): X509SVID {
    if (this.#closed) throw new KestSpiffeError('closed', 'X509Source is closed');
    if (!this.#svid) throw new KestSpiffeError('workload_api', 'X509Source has no SVID yet');
    return this.#svid;
  }

  get bundles(): BundleSet {
    if (!this.#bundles) throw new KestSpiffeError('workload_api', 'X509Source has no bundles yet');
    return this.#bundles;
  }

  getBundleForTrustDomain(trustDomain: TrustDomain): SpiffeBundle | undefined {
    return this.#bundles?.getBundleForTrustDomain(trustDomain);
  }

  /** True while the stream is open (a message was received since the last (re)connect). */
  get connected(): boolean {
    return this.#stream !== undefined && this.#attempt === 0 && !this.#closed;
  }

  /** Number of updates applied so far. */
  get updates(): number {
    return this.#updates;
  }

  get lastError(): KestSpiffeError | undefined {
    return this.#lastError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Listen for rotations. Returns an unsubscribe function. */
  onUpdate(listener: X509SourceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stop the stream and timers; the current SVID is no longer handed out. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#listeners.clear();
    if (this.#ownsClient) this.client.close();
  }

  #connect(): void {
    if (this.#closed) return;
    this.#stream = this.client.watchX509Context(
      (ctx) => this.#apply(ctx),
      (err) => {
        this.#stream = undefined;
        this.#lastError = err;
        this.#scheduleReconnect();
      },
    );
  }

  #apply(ctx: X509Context): void {
    const svid = this.#pick(ctx.svids);
    if (!svid) {
      this.#lastError = new KestSpiffeError(
        'workload_api',
        'no SVID in the Workload API update matches the picker',
      );
      return;
    }
    this.#attempt = 0;
    this.#svid = svid;
    this.#bundles = ctx.bundles;
    this.#updates++;
    for (const l of [...this.#listeners]) {
      try {
        l({ svid, bundles: ctx.bundles });
      } catch {
        // A listener's failure must not stop the rotation reaching the others.
      }
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const base = Math.min(this.#backoffMax, this.#backoffInitial * 2 ** this.#attempt);
    this.#attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
  }
}
