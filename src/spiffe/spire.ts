/**
 * SPIREProvider: signs Kest entries with the workload's X.509-SVID from the SPIFFE Workload API.
 * The workload id is the SVID's SPIFFE ID; the key never leaves memory; one long-lived stream
 * (X509Source) delivers rotations. ES256 (raw r||s) for P-256 keys and EdDSA for Ed25519 keys —
 * the alg always comes from the key (algForKey), never from configuration.
 *
 * Compact chain form (docs/spiffe.md): the header always names the leaf by `x5t#S256`; the `x5c`
 * chain rides only in the first entry of a passport signed with that SVID. When the caller passes
 * SignOptions.knownChains containing the thumbprint, the chain is left out.
 */
import type { KeyObject } from 'node:crypto';
import { KestIdentityError } from '../errors.js';
import type { IdentityProvider, PublicJwk, SignOptions } from '../identity/provider.js';
import type { JwsAlg } from '../wire/constants.js';
import { algForKey, encodeHeader, signWithEncodedHeader } from '../wire/jws.js';
import { X509Source, type X509SourceOptions } from './x509source.js';
import type { X509SVID } from './x509svid.js';

/** Anything that hands out the current SVID (an X509Source, or a fixed SVID in tests). */
export interface SvidSource {
  getX509SVID(): X509SVID;
  close?(): Promise<void> | void;
}

export interface SPIREProviderOptions {
  /**
   * `compact` (default): x5t#S256 always, x5c only when SignOptions.knownChains lacks the leaf.
   * `full`: x5c in every entry (larger entries; each verifies on its own).
   */
  chainMode?: 'compact' | 'full';
  /** Clock for the expiry check (ms). Default Date.now. */
  now?: () => number;
}

interface SvidHeaders {
  alg: JwsAlg;
  full: string;
  compact: string;
  thumbprint: string;
}

/** `S`: the source's own type, so `connect()`'s X509Source can also feed a SpiffeTrustSource. */
export class SPIREProvider<S extends SvidSource = SvidSource> implements IdentityProvider {
  readonly #source: S;
  readonly #ownsSource: boolean;
  readonly #mode: 'compact' | 'full';
  readonly #now: () => number;
  // Headers are encoded once per SVID; rotation produces a new SVID object and new headers.
  readonly #headers = new WeakMap<X509SVID, SvidHeaders>();

  constructor(source: S, options: SPIREProviderOptions & { ownsSource?: boolean } = {}) {
    this.#source = source;
    this.#ownsSource = options.ownsSource ?? false;
    this.#mode = options.chainMode ?? 'compact';
    this.#now = options.now ?? Date.now;
  }

  /**
   * Connect to the Workload API (SPIFFE_ENDPOINT_SOCKET or options.address) and wait for the first
   * SVID. An unreachable agent or no SVID within startTimeoutMs is a KestIdentityError.
   */
  static async connect(
    options: X509SourceOptions & SPIREProviderOptions = {},
  ): Promise<SPIREProvider<X509Source>> {
    let source: X509Source;
    try {
      source = await X509Source.create(options);
    } catch (err) {
      throw new KestIdentityError(`SPIFFE Workload API unavailable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new SPIREProvider(source, { ...options, ownsSource: true });
  }

  /** The source behind this provider: after connect(), its X509Source (also a SpiffeTrustSource's bundles). */
  get source(): S {
    return this.#source;
  }

  /** The current, unexpired SVID. Throws KestIdentityError otherwise: no signing without one. */
  currentSvid(): X509SVID {
    let svid: X509SVID;
    try {
      svid = this.#source.getX509SVID();
    } catch (err) {
      throw new KestIdentityError(`no X.509-SVID: ${(err as Error).message}`, { cause: err });
    }
    const now = this.#now();
    if (now > svid.notAfter) {
      throw new KestIdentityError(
        `X.509-SVID ${svid.id} expired at ${new Date(svid.notAfter).toISOString()} and no rotation arrived from the Workload API`,
      );
    }
    if (now < svid.notBefore) {
      throw new KestIdentityError(
        `X.509-SVID ${svid.id} is not valid before ${new Date(svid.notBefore).toISOString()}`,
      );
    }
    return svid;
  }

  getWorkloadId(): string {
    return this.currentSvid().id.toString();
  }

  sign(payload: Uint8Array, options?: SignOptions): string {
    const svid = this.currentSvid();
    const h = this.#headersFor(svid);
    const compact = this.#mode === 'compact' && options?.knownChains?.has(h.thumbprint) === true;
    return signWithEncodedHeader(compact ? h.compact : h.full, payload, svid.privateKey, h.alg);
  }

  getPublicJwks(): { keys: PublicJwk[] } {
    const svid = this.currentSvid();
    const jwk = svid.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    return {
      keys: [
        {
          ...(jwk as { kty: string }),
          kid: svid.thumbprint,
          alg: algForKey(svid.publicKey),
          use: 'sig',
          x5c: svid.x5c(),
          'x5t#S256': svid.thumbprint,
          principal: svid.id.toString(),
        },
      ],
    };
  }

  /** The signing key of the current SVID (benchmarks, diagnostics). */
  get publicKey(): KeyObject {
    return this.currentSvid().publicKey;
  }

  /** Close the Workload API stream when this provider created it. */
  async close(): Promise<void> {
    if (this.#ownsSource) await this.#source.close?.();
  }

  #headersFor(svid: X509SVID): SvidHeaders {
    let h = this.#headers.get(svid);
    if (!h) {
      let alg: JwsAlg;
      try {
        alg = algForKey(svid.privateKey);
      } catch (err) {
        throw new KestIdentityError(
          `the SVID key of ${svid.id} cannot sign Kest entries: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      const thumbprint = svid.thumbprint;
      h = {
        alg,
        thumbprint,
        full: encodeHeader({ alg, typ: 'JWS', 'x5t#S256': thumbprint, x5c: svid.x5c() }),
        compact: encodeHeader({ alg, typ: 'JWS', 'x5t#S256': thumbprint }),
      };
      this.#headers.set(svid, h);
    }
    return h;
  }
}
