/**
 * A development SPIFFE Workload API server: it creates a CA for one trust domain, issues
 * short-lived X.509-SVIDs (EC P-256 by default) for registered workload IDs, rotates them at half
 * their lifetime (or on demand), and streams every rotation to open FetchX509SVID calls. Tests and
 * the demo use it; production uses a SPIRE agent (point SPIFFE_ENDPOINT_SOCKET at its socket).
 *
 * Unlike SPIRE it does not attest callers: every caller of the socket receives every registered
 * SVID (the client picks one by SPIFFE ID). Protect the socket with file permissions.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { SpiffeBundle } from './bundle.js';
import { DevCertificateAuthority, type SvidKeyType } from './ca.js';
import { parseEndpoint } from './endpoint.js';
import { KestSpiffeError } from './errors.js';
import { WORKLOAD_API_HEADER, workloadApiService, type X509SVIDResponseMessage } from './proto.js';
import { SpiffeId, TrustDomain } from './spiffeid.js';
import type { X509SVID } from './x509svid.js';

export interface DevAgentOptions {
  trustDomain: string;
  /** Unix socket path (or unix:///path, tcp://127.0.0.1:port). */
  socket: string;
  /** Workload SPIFFE IDs (or paths like /svc/a) to issue SVIDs for. Default: /workload. */
  workloads?: string[];
  /** SVID lifetime in seconds. Default 300. */
  ttlSeconds?: number;
  /** Rotate automatically at this fraction of the lifetime (0 disables). Default 0.5. */
  rotateAt?: number;
  keyType?: SvidKeyType;
  /** Write the bundle (SPIFFE JSON bundle format) here at start and after each CA change. */
  bundleOut?: string;
  /** Use this CA instead of creating one. */
  ca?: DevCertificateAuthority;
}

interface Call {
  write(msg: X509SVIDResponseMessage): void;
}

export class DevAgent {
  readonly trustDomain: TrustDomain;
  readonly address: string;
  #ca: DevCertificateAuthority;
  readonly #server: grpc.Server;
  readonly #ttlSeconds: number;
  readonly #rotateAt: number;
  readonly #keyType: SvidKeyType;
  readonly #bundleOut: string | undefined;
  readonly #socketPath: string | undefined;
  readonly #workloads: string[] = [];
  readonly #svids = new Map<string, X509SVID>();
  readonly #calls = new Set<Call>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Number of rotations so far. */
  rotations = 0;

  private constructor(
    options: DevAgentOptions,
    server: grpc.Server,
    address: string,
    socketPath: string | undefined,
  ) {
    this.trustDomain = TrustDomain.parse(options.trustDomain);
    this.#ca = options.ca ?? DevCertificateAuthority.create({ trustDomain: this.trustDomain });
    if (!this.#ca.trustDomain.equals(this.trustDomain)) {
      throw new KestSpiffeError('invalid_trust_domain', 'the CA belongs to another trust domain');
    }
    this.#server = server;
    this.address = address;
    this.#socketPath = socketPath;
    this.#ttlSeconds = options.ttlSeconds ?? 300;
    this.#rotateAt = options.rotateAt ?? 0.5;
    this.#keyType = options.keyType ?? 'ec-p256';
    this.#bundleOut = options.bundleOut;
    for (const w of options.workloads ?? ['/workload']) this.#addWorkload(w);
  }

  /** Create the CA, issue the SVIDs and listen. Resolves once the socket accepts connections. */
  static async start(options: DevAgentOptions): Promise<DevAgent> {
    const endpoint = parseEndpoint(options.socket);
    if (endpoint.path) {
      mkdirSync(dirname(endpoint.path), { recursive: true });
      rmSync(endpoint.path, { force: true });
    }
    const server = new grpc.Server();
    const agent = new DevAgent(
      options,
      server,
      endpoint.kind === 'unix' ? `unix://${endpoint.path}` : endpoint.address,
      endpoint.path,
    );
    agent.#issueAll();
    server.addService(workloadApiService().service, agent.#handlers());
    const bindTarget =
      endpoint.kind === 'unix' ? `unix:${endpoint.path}` : endpoint.target.replace(/^ipv[46]:/, '');
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(bindTarget, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    ).catch((err) => {
      throw new KestSpiffeError(
        'workload_api',
        `dev agent cannot listen on ${options.socket}: ${(err as Error).message}`,
        { cause: err },
      );
    });
    agent.#writeBundle();
    agent.#schedule();
    return agent;
  }

  /** The current signing authority (replaced by rotateAuthority()). */
  get ca(): DevCertificateAuthority {
    return this.#ca;
  }

  bundle(): SpiffeBundle {
    return this.#ca.bundle();
  }

  /**
   * Replace the CA (a new root unless one is given): the bundle then holds only the new root, so
   * SVIDs of the old one stop validating. Reissues and pushes every SVID with the new bundle.
   */
  rotateAuthority(ca?: DevCertificateAuthority): void {
    const next = ca ?? DevCertificateAuthority.create({ trustDomain: this.trustDomain });
    if (!next.trustDomain.equals(this.trustDomain)) {
      throw new KestSpiffeError('invalid_trust_domain', 'the CA belongs to another trust domain');
    }
    this.#ca = next;
    this.#writeBundle();
    this.rotate();
  }

  /** Current SVIDs by SPIFFE ID. */
  svids(): ReadonlyMap<string, X509SVID> {
    return this.#svids;
  }

  get workloads(): readonly string[] {
    return this.#workloads;
  }

  /** Open FetchX509SVID streams. */
  get streams(): number {
    return this.#calls.size;
  }

  /** Register a workload and push its SVID to open streams. */
  register(id: string): SpiffeId {
    const sid = this.#addWorkload(id);
    this.#svids.set(sid.toString(), this.#issue(sid.toString()));
    this.#broadcast();
    return sid;
  }

  /** Issue new SVIDs (new keys) for every workload now and push them to every open stream. */
  rotate(): void {
    this.#issueAll();
    this.rotations++;
    this.#broadcast();
    this.#schedule();
  }

  /** Stop listening, end open streams, remove the socket. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#server.forceShutdown();
    this.#calls.clear();
    if (this.#socketPath) rmSync(this.#socketPath, { force: true });
  }

  #addWorkload(id: string): SpiffeId {
    const sid = id.startsWith('/') ? this.trustDomain.id(id) : SpiffeId.parse(id);
    if (!sid.memberOf(this.trustDomain)) {
      throw new KestSpiffeError(
        'invalid_spiffe_id',
        `${sid} is not in the trust domain ${this.trustDomain.name}`,
      );
    }
    if (!this.#workloads.includes(sid.toString())) this.#workloads.push(sid.toString());
    return sid;
  }

  #issue(id: string): X509SVID {
    return this.ca.issue({ id, ttlSeconds: this.#ttlSeconds, keyType: this.#keyType });
  }

  #issueAll(): void {
    for (const w of this.#workloads) this.#svids.set(w, this.#issue(w));
  }

  #message(): X509SVIDResponseMessage {
    const bundle = this.ca.bundle().toDer();
    return {
      svids: [...this.#svids.values()].map((s) => ({
        spiffe_id: s.id.toString(),
        x509_svid: Buffer.concat(s.certificates.map((c) => c.der)),
        x509_svid_key: s.privateKey.export({ type: 'pkcs8', format: 'der' }),
        bundle,
        hint: s.id.path.split('/').pop() ?? '',
      })),
      crl: [],
      federated_bundles: {},
    };
  }

  #broadcast(): void {
    const msg = this.#message();
    for (const call of this.#calls) call.write(msg);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#rotateAt <= 0 || this.#stopped) return;
    this.#timer = setTimeout(() => this.rotate(), this.#ttlSeconds * 1000 * this.#rotateAt);
    this.#timer.unref();
  }

  #writeBundle(): void {
    if (!this.#bundleOut) return;
    mkdirSync(dirname(this.#bundleOut), { recursive: true });
    writeFileSync(this.#bundleOut, `${JSON.stringify(this.bundle().toJwks(), null, 2)}\n`);
  }

  #handlers(): grpc.UntypedServiceImplementation {
    const requireHeader = (
      call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerUnaryCall<unknown, unknown>,
    ) => call.metadata.get(WORKLOAD_API_HEADER)[0] === 'true';
    const fail = (call: grpc.ServerWritableStream<unknown, unknown>, code: grpc.status, details: string) => {
      call.emit('error', Object.assign(new Error(details), { code, details }));
    };
    const missingHeader = `security header missing from request (${WORKLOAD_API_HEADER}: true)`;
    return {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, X509SVIDResponseMessage>) => {
        if (!requireHeader(call)) return fail(call, grpc.status.INVALID_ARGUMENT, missingHeader);
        const entry: Call = { write: (m) => call.write(m) };
        this.#calls.add(entry);
        call.on('cancelled', () => this.#calls.delete(entry));
        call.on('close', () => this.#calls.delete(entry));
        call.write(this.#message());
      },
      FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (!requireHeader(call)) return fail(call, grpc.status.INVALID_ARGUMENT, missingHeader);
        call.write({ crl: [], bundles: { [this.trustDomain.idString()]: this.ca.bundle().toDer() } });
      },
      FetchJWTBundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (!requireHeader(call)) return fail(call, grpc.status.INVALID_ARGUMENT, missingHeader);
        fail(call, grpc.status.UNIMPLEMENTED, 'the dev agent issues no JWT-SVIDs');
      },
      FetchJWTSVID: (
        _call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        callback({ code: grpc.status.UNIMPLEMENTED, details: 'the dev agent issues no JWT-SVIDs' });
      },
    };
  }
}
