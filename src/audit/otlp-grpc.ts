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
import { KestError } from '../errors.js';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { otlpTraceCodec, requireOptional, spansFromOtlpProto } from './otlp-proto.js';
import {
  boundAddress,
  OTLP_RECEIVER_DEFAULTS,
  OtlpReceiver,
  type OtlpRefusal,
  type OtlpSpanStore,
  receiverSetup,
} from './otlp-receiver.js';

export { OTLP_RECEIVER_DEFAULTS, type OtlpReceiverStats, parseListenAddress } from './otlp-receiver.js';

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
const CODES: Record<OtlpRefusal['kind'], number> = {
  invalid: STATUS.INVALID_ARGUMENT,
  'too-large': STATUS.RESOURCE_EXHAUSTED,
  unavailable: STATUS.UNAVAILABLE,
};
type Callback = (error: { code: number; details: string } | null, response?: object) => void;

export class OtlpGrpcReceiver extends OtlpReceiver {
  readonly #server: GrpcServer;

  private constructor(server: GrpcServer, address: string, store: OtlpSpanStore) {
    super(address, store);
    this.#server = server;
  }

  /** Listen; resolves once the port is bound. */
  static async start(options: OtlpGrpcReceiverOptions = {}): Promise<OtlpGrpcReceiver> {
    // Recorded as the collector's format: proto (4-byte big-endian length, then the message). An
    // empty request holds nothing, and a zero length would end a recorded file's reading.
    const { address, host, maxMessageBytes, store } = receiverSetup(
      options,
      OTLP_RECEIVER_DEFAULTS.address,
      (bytes) => {
        if (bytes.length === 0) return undefined;
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(bytes.length, 0);
        return Buffer.concat([prefix, bytes]);
      },
    );
    const grpc = requireOptional<GrpcModule>('@grpc/grpc-js', 'the OTLP/gRPC receiver');
    const codec = otlpTraceCodec();
    // Every call is counted as it starts: one gRPC refuses before the handler (too large) still shows.
    const counting = (_method: unknown, call: unknown) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next: () => void) => {
          store.started++;
          next();
        },
      });
    const server = new grpc.Server({
      'grpc.max_receive_message_length': maxMessageBytes,
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
    const receiver = new OtlpGrpcReceiver(server, boundAddress(host, port), store);
    const exportMethod = codec.service.Export as object;
    // Requests arrive as bytes: decoded here, so a malformed one is refused with INVALID_ARGUMENT.
    server.addService(
      { Export: { ...exportMethod, requestDeserialize: (bytes: Buffer) => bytes } },
      { Export: (call: { request: Buffer }, done: Callback) => receiver.#export(call.request, done) },
    );
    return receiver;
  }

  /** Keep a request's spans, or say why it is refused. */
  #accept(bytes: Buffer): OtlpRefusal | undefined {
    const stopping = this.store.stopping();
    if (stopping) return stopping;
    let spans: SpanRecord[];
    try {
      spans = spansFromOtlpProto(bytes, `OTLP/gRPC export ${this.store.nextNumber()}`);
    } catch (err) {
      return { kind: 'invalid', details: err instanceof KestError ? err.message : String(err) };
    }
    return this.store.accept(bytes, spans);
  }

  #export(bytes: Buffer, done: Callback): void {
    const refusal = this.#accept(bytes);
    if (!refusal) {
      done(null, {});
      return;
    }
    this.store.refuse(refusal);
    done({ code: CODES[refusal.kind], details: refusal.details });
  }

  protected async shutdown(graceMs: number): Promise<void> {
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
