/**
 * An OTLP/gRPC trace receiver for the audit: the OpenTelemetry TraceService/Export method, served
 * with @grpc/grpc-js, so an exporter that speaks only OTLP/gRPC (the Python reference runtime's,
 * a collector's `otlp` exporter) sends its spans straight to `kest audit`. It keeps what it
 * receives in memory, bounded (message size, span count, total bytes), and can record every
 * accepted request to a file the audit reads again later (length-prefixed protobuf, the collector
 * file exporter's `format: proto`).
 *
 * Plaintext gRPC (no TLS), like an OTLP exporter's `insecure` endpoint: listen on loopback or a
 * private network. Whoever reaches it can add spans; verdicts still come only from signed entries,
 * but extra or malformed spans can turn a verdict into a failure or a gap.
 *
 * @grpc/grpc-js and @grpc/proto-loader are optional peers, loaded when a receiver starts.
 */
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { KestConfigurationError, KestError } from '../errors.js';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { OTLP_PROTO_LIMITS, otlpTraceCodec, requireOptional, spansFromOtlpProto } from './otlp-proto.js';

export interface OtlpGrpcReceiverOptions {
  /** `host:port` to listen on (`[::1]:4317` for IPv6; port 0 picks a free one). Default `127.0.0.1:4317`. */
  address?: string;
  /** Largest request accepted, after decompression. Default 32 MiB. */
  maxMessageBytes?: number;
  /** Spans kept at most; a request that would pass it is refused (RESOURCE_EXHAUSTED). Default 1 000 000. */
  maxSpans?: number;
  /** Bytes of accepted requests at most, summed; past it requests are refused. Default 2 GiB. */
  maxTotalBytes?: number;
  /** Append every accepted request to this file (4-byte big-endian length, then the message). */
  recordTo?: string;
}

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
  address: '127.0.0.1:4317',
  maxSpans: 1_000_000,
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
} as const;

/** grpc status codes used here (grpc.status), without loading grpc-js to name them. */
const STATUS = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

/** The part of @grpc/grpc-js used here (declared, so the published types do not need it). */
interface GrpcServer {
  addService(service: object, implementation: object): void;
  bindAsync(port: string, creds: unknown, callback: (error: Error | null, port: number) => void): void;
  tryShutdown(callback: (error?: Error) => void): void;
  forceShutdown(): void;
}
interface GrpcModule {
  Server: new (options?: Record<string, unknown>) => GrpcServer;
  ServerCredentials: { createInsecure(): unknown };
  ServerInterceptingCall: new (call: unknown, responder: { start: (next: () => void) => void }) => unknown;
}
interface Refusal {
  code: number;
  details: string;
  spans?: number;
}
type Callback = (error: { code: number; details: string } | null, response?: object) => void;

function positive(name: string, value: number | undefined, fallback: number): number {
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

export class OtlpGrpcReceiver {
  /** The address actually bound (`host:port`, the port resolved when 0 was asked). */
  readonly address: string;
  readonly #server: GrpcServer;
  readonly #spans: SpanRecord[] = [];
  readonly #stats: OtlpReceiverStats = {
    exports: 0,
    spans: 0,
    refusedExports: 0,
    refusedSpans: 0,
    unfinishedCalls: 0,
  };
  readonly #calls: { started: number };
  readonly #maxSpans: number;
  readonly #maxTotalBytes: number;
  readonly #recordTo: string | undefined;
  #bytes = 0;
  #closed = false;

  private constructor(
    server: GrpcServer,
    address: string,
    options: Required<OtlpGrpcReceiverOptions>,
    calls: { started: number },
  ) {
    this.#server = server;
    this.#calls = calls;
    this.address = address;
    this.#maxSpans = options.maxSpans;
    this.#maxTotalBytes = options.maxTotalBytes;
    this.#recordTo = options.recordTo || undefined;
  }

  /** Listen; resolves once the port is bound. */
  static async start(options: OtlpGrpcReceiverOptions = {}): Promise<OtlpGrpcReceiver> {
    const address = options.address ?? OTLP_RECEIVER_DEFAULTS.address;
    const { host } = parseListenAddress(address);
    const settings = {
      address,
      maxMessageBytes: positive(
        'maxMessageBytes',
        options.maxMessageBytes,
        OTLP_PROTO_LIMITS.maxMessageBytes,
      ),
      maxSpans: positive('maxSpans', options.maxSpans, OTLP_RECEIVER_DEFAULTS.maxSpans),
      maxTotalBytes: positive('maxTotalBytes', options.maxTotalBytes, OTLP_RECEIVER_DEFAULTS.maxTotalBytes),
      recordTo: options.recordTo ?? '',
    };
    if (settings.recordTo) closeSync(openSync(settings.recordTo, 'a')); // fails now, not at the first export
    const grpc = requireOptional<GrpcModule>('@grpc/grpc-js', 'the OTLP/gRPC receiver');
    const codec = otlpTraceCodec();
    // Every call is counted as it starts: one gRPC refuses before the handler (too large) still shows.
    const calls = { started: 0 };
    const counting = (_method: unknown, call: unknown) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next: () => void) => {
          calls.started++;
          next();
        },
      });
    const server = new grpc.Server({
      'grpc.max_receive_message_length': settings.maxMessageBytes,
      'grpc.max_send_message_length': 64 * 1024,
      interceptors: [counting],
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    ).catch((err: Error) => {
      server.forceShutdown();
      throw new KestTelemetryError(`OTLP/gRPC receiver cannot listen on ${address}: ${err.message}`, {
        cause: err,
      });
    });
    const bound = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const receiver = new OtlpGrpcReceiver(server, bound, settings, calls);
    const exportMethod = codec.service.Export as object;
    // Requests arrive as bytes: decoded here, so a malformed one is refused with INVALID_ARGUMENT.
    server.addService(
      { Export: { ...exportMethod, requestDeserialize: (bytes: Buffer) => bytes } },
      { Export: (call: { request: Buffer }, done: Callback) => receiver.#export(call.request, done) },
    );
    return receiver;
  }

  /** Keep a request's spans, or say why it is refused. */
  #accept(bytes: Buffer): Refusal | undefined {
    if (this.#closed) return { code: STATUS.UNAVAILABLE, details: 'the Kest audit receiver is stopping' };
    let spans: SpanRecord[];
    try {
      const n = this.#stats.exports + this.#stats.refusedExports + 1;
      spans = spansFromOtlpProto(bytes, `OTLP/gRPC export ${n}`);
    } catch (err) {
      return { code: STATUS.INVALID_ARGUMENT, details: err instanceof KestError ? err.message : String(err) };
    }
    const over = (details: string): Refusal => ({
      code: STATUS.RESOURCE_EXHAUSTED,
      details,
      spans: spans.length,
    });
    if (this.#stats.spans + spans.length > this.#maxSpans) {
      return over(`the Kest audit receiver holds at most ${this.#maxSpans} spans`);
    }
    if (this.#bytes + bytes.length > this.#maxTotalBytes) {
      return over(`the Kest audit receiver holds at most ${this.#maxTotalBytes} bytes of requests`);
    }
    // An empty request holds nothing, and a zero length would end a recorded file's reading.
    if (this.#recordTo && bytes.length > 0) {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(bytes.length, 0);
      try {
        appendFileSync(this.#recordTo, Buffer.concat([prefix, bytes]));
      } catch (err) {
        // Not kept either: what is audited and what is recorded stay the same.
        const details = `the Kest audit receiver cannot record to ${this.#recordTo}: ${(err as Error).message}`;
        return { code: STATUS.UNAVAILABLE, details, spans: spans.length };
      }
    }
    this.#bytes += bytes.length;
    for (const s of spans) this.#spans.push(s);
    this.#stats.exports++;
    this.#stats.spans += spans.length;
    this.#stats.lastExportAt = Date.now();
    return undefined;
  }

  #export(bytes: Buffer, done: Callback): void {
    const refusal = this.#accept(bytes);
    if (!refusal) {
      done(null, {});
      return;
    }
    this.#stats.refusedExports++;
    this.#stats.refusedSpans += refusal.spans ?? 0;
    this.#stats.firstRefusal ??= refusal.details;
    done({ code: refusal.code, details: refusal.details });
  }

  /** Spans received so far, in arrival order. */
  spans(): SpanRecord[] {
    return [...this.#spans];
  }

  get stats(): Readonly<OtlpReceiverStats> {
    const handled = this.#stats.exports + this.#stats.refusedExports;
    return { ...this.#stats, unfinishedCalls: Math.max(0, this.#calls.started - handled) };
  }

  /**
   * Stop: refuse new requests, let those in flight finish (at most `graceMs`, default 2000), then
   * close every connection. Idempotent.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
