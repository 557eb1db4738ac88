/**
 * What the audit's OTLP receivers share, whatever the transport (otlp-grpc.ts, otlp-http.ts): the
 * listen address, the bounds (span count, total bytes), the optional recording, and the counting of
 * every accepted and refused request, so a lost export is never silent.
 */
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { KestConfigurationError } from '../errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { OTLP_PROTO_LIMITS } from './otlp-proto.js';

export interface OtlpReceiverStats {
  /** Requests accepted, and the spans they held. */
  exports: number;
  spans: number;
  /** Requests refused (malformed, over a limit, or after close) and the spans they held, if known. */
  refusedExports: number;
  refusedSpans: number;
  /**
   * Calls that never reached the receiver: refused by gRPC itself (a request over
   * maxMessageBytes), cancelled by the client, or still in flight. Exact once closed.
   */
  unfinishedCalls: number;
  /** Why the first request was refused. */
  firstRefusal?: string;
  /** Date.now() of the last accepted request. */
  lastExportAt?: number;
}

export const OTLP_RECEIVER_DEFAULTS = {
  /** The OTLP/gRPC port; OTLP/HTTP listens on `httpAddress`. */
  address: '127.0.0.1:4317',
  httpAddress: '127.0.0.1:4318',
  maxSpans: 1_000_000,
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
} as const;

/** Why a request is refused; each transport maps the kind to its own status. */
export interface OtlpRefusal {
  kind: 'invalid' | 'too-large' | 'unavailable';
  details: string;
  spans?: number;
}

/** A positive whole-number option, or its default. */
export function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new KestConfigurationError(`${name} must be a positive whole number`);
  }
  return value;
}

/** host and port of `host:port` / `[v6]:port`. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new KestConfigurationError(
      `cannot listen on ${JSON.stringify(address)}: expected host:port (e.g. 127.0.0.1:4317, [::1]:4317)`,
    );
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** `host:port` of a bound socket, IPv6 hosts bracketed. */
export function boundAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface OtlpSpanStoreOptions {
  maxSpans?: number | undefined;
  maxTotalBytes?: number | undefined;
  recordTo?: string | undefined;
  /** The bytes one accepted request appends to `recordTo` (none: nothing written). */
  recordAs: (request: Uint8Array, spans: readonly SpanRecord[]) => Buffer | undefined;
}

/** The options both receivers take (each documents them for its transport). */
export interface OtlpReceiverCommonOptions {
  address?: string;
  maxMessageBytes?: number;
  maxSpans?: number;
  maxTotalBytes?: number;
  recordTo?: string;
}

/** What every receiver's start() reads first: where to listen, the message cap, its span store. */
export function receiverSetup(
  options: OtlpReceiverCommonOptions,
  defaultAddress: string,
  recordAs: OtlpSpanStoreOptions['recordAs'],
): { address: string; host: string; port: number; maxMessageBytes: number; store: OtlpSpanStore } {
  const address = options.address ?? defaultAddress;
  const { host, port } = parseListenAddress(address);
  const maxMessageBytes = positiveOption(
    'maxMessageBytes',
    options.maxMessageBytes,
    OTLP_PROTO_LIMITS.maxMessageBytes,
  );
  const store = new OtlpSpanStore({
    maxSpans: options.maxSpans,
    maxTotalBytes: options.maxTotalBytes,
    recordTo: options.recordTo,
    recordAs,
  });
  return { address, host, port, maxMessageBytes, store };
}

/**
 * The spans a receiver keeps, bounded, and the count of every request it accepted or refused.
 * Requests are counted as they start (`started`), so one that never ends still shows.
 */
export class OtlpSpanStore {
  readonly #spans: SpanRecord[] = [];
  readonly #stats: OtlpReceiverStats = {
    exports: 0,
    spans: 0,
    refusedExports: 0,
    refusedSpans: 0,
    unfinishedCalls: 0,
  };
  readonly #maxSpans: number;
  readonly #maxTotalBytes: number;
  readonly #recordTo: string | undefined;
  readonly #recordAs: OtlpSpanStoreOptions['recordAs'];
  #bytes = 0;
  /** Requests started (counted by the transport); those neither accepted nor refused are unfinished. */
  started = 0;
  closed = false;

  /** Checks the options; an unwritable record file fails now, not at the first export. */
  constructor(options: OtlpSpanStoreOptions) {
    this.#maxSpans = positiveOption('maxSpans', options.maxSpans, OTLP_RECEIVER_DEFAULTS.maxSpans);
    this.#maxTotalBytes = positiveOption(
      'maxTotalBytes',
      options.maxTotalBytes,
      OTLP_RECEIVER_DEFAULTS.maxTotalBytes,
    );
    this.#recordTo = options.recordTo || undefined;
    this.#recordAs = options.recordAs;
    if (this.#recordTo) closeSync(openSync(this.#recordTo, 'a'));
  }

  /** The refusal of a request that arrives while the receiver stops. */
  stopping(): OtlpRefusal | undefined {
    return this.closed ? { kind: 'unavailable', details: 'the Kest audit receiver is stopping' } : undefined;
  }

  /** The number a new request gets in messages (`export 3`). */
  nextNumber(): number {
    return this.#stats.exports + this.#stats.refusedExports + 1;
  }

  /** Keep a decoded request's spans (`request`: its bytes after decompression), or say why not. */
  accept(request: Uint8Array, spans: SpanRecord[]): OtlpRefusal | undefined {
    const stopping = this.stopping();
    if (stopping) return { ...stopping, spans: spans.length };
    const over = (details: string): OtlpRefusal => ({ kind: 'too-large', details, spans: spans.length });
    if (this.#stats.spans + spans.length > this.#maxSpans) {
      return over(`the Kest audit receiver holds at most ${this.#maxSpans} spans`);
    }
    if (this.#bytes + request.length > this.#maxTotalBytes) {
      return over(`the Kest audit receiver holds at most ${this.#maxTotalBytes} bytes of requests`);
    }
    const record = this.#recordTo ? this.#recordAs(request, spans) : undefined;
    if (this.#recordTo && record && record.length > 0) {
      try {
        appendFileSync(this.#recordTo, record);
      } catch (err) {
        // Not kept either: what is audited and what is recorded stay the same.
        const details = `the Kest audit receiver cannot record to ${this.#recordTo}: ${(err as Error).message}`;
        return { kind: 'unavailable', details, spans: spans.length };
      }
    }
    this.#bytes += request.length;
    for (const s of spans) this.#spans.push(s);
    this.#stats.exports++;
    this.#stats.spans += spans.length;
    this.#stats.lastExportAt = Date.now();
    return undefined;
  }

  /** Count a refused request. */
  refuse(refusal: OtlpRefusal): void {
    this.#stats.refusedExports++;
    this.#stats.refusedSpans += refusal.spans ?? 0;
    this.#stats.firstRefusal ??= refusal.details;
  }

  spans(): SpanRecord[] {
    return [...this.#spans];
  }

  stats(): OtlpReceiverStats {
    const handled = this.#stats.exports + this.#stats.refusedExports;
    return { ...this.#stats, unfinishedCalls: Math.max(0, this.started - handled) };
  }
}

/**
 * What both receivers expose the same way: the address, the spans and counts, and an idempotent
 * close that refuses new requests first and leaves the transport's own shutdown to the subclass.
 */
export abstract class OtlpReceiver {
  /** The address actually bound (`host:port`, the port resolved when 0 was asked). */
  readonly address: string;
  protected readonly store: OtlpSpanStore;

  protected constructor(address: string, store: OtlpSpanStore) {
    this.address = address;
    this.store = store;
  }

  /** Spans received so far, in arrival order. */
  spans(): SpanRecord[] {
    return this.store.spans();
  }

  get stats(): Readonly<OtlpReceiverStats> {
    return this.store.stats();
  }

  /**
   * Stop: refuse new requests, let those in flight finish (at most `graceMs`, default 2000), then
   * close every connection. Idempotent.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.store.closed) return;
    this.store.closed = true;
    await this.shutdown(graceMs);
  }

  /** The transport's graceful shutdown, forced after `graceMs`. */
  protected abstract shutdown(graceMs: number): Promise<void>;
}
