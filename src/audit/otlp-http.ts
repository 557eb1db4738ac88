/**
 * An OTLP/HTTP trace receiver for the audit: `POST /v1/traces` with an ExportTraceServiceRequest
 * as protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally gzipped,
 * served with node:http, so any exporter's OTLP/HTTP endpoint can point at `kest audit`. It
 * answers as the OTLP/HTTP specification says (200 with an empty ExportTraceServiceResponse, 400
 * with a google.rpc.Status body for a malformed request, both in the request's content type), and
 * keeps what it receives under the same bounds and counting as the OTLP/gRPC receiver
 * (otlp-receiver.ts).
 *
 * Plain HTTP (no TLS): listen on loopback or a private network. Whoever reaches it can add spans;
 * verdicts still come only from signed entries, but extra or malformed spans can turn a verdict into
 * a failure or a gap. Protobuf requests need the optional peer @grpc/proto-loader; JSON needs none.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzip } from 'node:zlib';
import { KestConfigurationError, KestError } from '../errors.js';
import { KestTelemetryError } from '../telemetry/errors.js';
import type { SpanRecord } from '../telemetry/record.js';
import { spansFromOtlpJsonRequest } from './otlp-json.js';
import { spansFromOtlpProto } from './otlp-proto.js';
import {
  boundAddress,
  OTLP_RECEIVER_DEFAULTS,
  OtlpReceiver,
  type OtlpRefusal,
  type OtlpSpanStore,
  receiverSetup,
} from './otlp-receiver.js';

export interface OtlpHttpReceiverOptions {
  /** `host:port` to listen on (`[::1]:4318` for IPv6; port 0 picks a free one). Default `127.0.0.1:4318`. */
  address?: string;
  /** Largest request body accepted, as sent and after decompression. Default 32 MiB. */
  maxMessageBytes?: number;
  /** Spans kept at most; a request that would pass it is refused (413). Default 1 000 000. */
  maxSpans?: number;
  /** Bytes of accepted requests at most (decompressed), summed; past it requests are refused. Default 2 GiB. */
  maxTotalBytes?: number;
  /** Append the spans of every accepted request to this file, as JSON lines (a Kest span file). */
  recordTo?: string;
}

/** The path OTLP/HTTP exporters post traces to. */
export const OTLP_HTTP_TRACES_PATH = '/v1/traces';

type Body = 'json' | 'protobuf';
interface HttpRefusal extends OtlpRefusal {
  status?: number;
}
const STATUS: Record<OtlpRefusal['kind'], number> = { invalid: 400, 'too-large': 413, unavailable: 503 };
/** google.rpc.Status codes for the body of each HTTP status. */
const RPC_CODE: Record<number, number> = { 400: 3, 404: 5, 405: 12, 413: 8, 415: 3, 503: 14 };

function mediaType(header: string | undefined): Body | undefined {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'application/x-protobuf') return 'protobuf';
  return undefined;
}

/** google.rpc.Status as protobuf: code (field 1, varint), message (field 2, string). */
function statusProto(code: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const length: number[] = [];
  for (let v = text.length; ; v >>>= 7) {
    length.push(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
    if (v < 0x80) break;
  }
  return Buffer.concat([Buffer.from([0x08, code, 0x12, ...length]), text]);
}

/** The body, at most `max` bytes as sent; undefined past it (reading stops there). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.pause();
        req.removeAllListeners('data');
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request cut off'));
    });
  });
}

function gunzipBounded(body: Buffer, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) =>
    gunzip(body, { maxOutputLength: max }, (err, out) => {
      if (!err) resolve(out);
      else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') resolve(undefined);
      else reject(err);
    }),
  );
}

export class OtlpHttpReceiver extends OtlpReceiver {
  /** Where exporters send: `http://<address>/v1/traces`. */
  readonly url: string;
  readonly #server: Server;
  readonly #maxMessageBytes: number;

  private constructor(server: Server, address: string, store: OtlpSpanStore, maxMessageBytes: number) {
    super(address, store);
    this.#server = server;
    this.url = `http://${address}${OTLP_HTTP_TRACES_PATH}`;
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Listen; resolves once the port is bound. */
  static async start(options: OtlpHttpReceiverOptions = {}): Promise<OtlpHttpReceiver> {
    const { address, host, port, maxMessageBytes, store } = receiverSetup(
      options,
      OTLP_RECEIVER_DEFAULTS.httpAddress,
      (_request, spans) => Buffer.from(spans.map((s) => `${JSON.stringify(s)}\n`).join('')),
    );
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      server.close();
      throw new KestTelemetryError(`OTLP/HTTP receiver cannot listen on ${address}: ${err.message}`, {
        cause: err,
      });
    });
    const bound = boundAddress(host, (server.address() as { port: number }).port);
    const receiver = new OtlpHttpReceiver(server, bound, store, maxMessageBytes);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      store.started++;
      receiver.#handle(req, res).catch(() => {
        // The client went away mid-request: never handled, so it counts as unfinished.
        if (!res.headersSent) res.destroy();
      });
    });
    return receiver;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = mediaType(req.headers['content-type']);
    const refused = this.#check(req, type);
    if (refused) {
      this.#answer(req, res, type, refused);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    let body = declared > this.#maxMessageBytes ? undefined : await readBody(req, this.#maxMessageBytes);
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (body && encoding === 'gzip') {
      try {
        body = await gunzipBounded(body, this.#maxMessageBytes);
      } catch (err) {
        const details = `OTLP/HTTP export ${this.store.nextNumber()}: bad gzip: ${(err as Error).message}`;
        this.#answer(req, res, type, { kind: 'invalid', details });
        return;
      }
    }
    if (!body) {
      const details = `the Kest audit receiver accepts requests of at most ${this.#maxMessageBytes} bytes`;
      this.#answer(req, res, type, { kind: 'too-large', details });
      return;
    }
    this.#answer(req, res, type, this.#accept(body, type as Body));
  }

  /** What refuses a request before its body is read: path, method, media type, encoding, closing. */
  #check(req: IncomingMessage, type: Body | undefined): HttpRefusal | undefined {
    const what = `${req.method} ${JSON.stringify((req.url ?? '').slice(0, 200))}`;
    if ((req.url ?? '').split('?')[0] !== OTLP_HTTP_TRACES_PATH) {
      return {
        kind: 'invalid',
        status: 404,
        details: `${what}: not found (OTLP traces go to POST /v1/traces)`,
      };
    }
    if (req.method !== 'POST') {
      return { kind: 'invalid', status: 405, details: `${what}: only POST is allowed` };
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (!type || (encoding !== 'identity' && encoding !== 'gzip')) {
      const details = `${what}: unsupported ${type ? `content-encoding ${JSON.stringify(encoding)}` : `content-type ${JSON.stringify(req.headers['content-type'] ?? '')}`} (application/x-protobuf or application/json, optionally gzip)`;
      return { kind: 'invalid', status: 415, details };
    }
    return this.store.stopping();
  }

  /** Decode and keep a request's spans, or say why it is refused. */
  #accept(body: Buffer, type: Body): HttpRefusal | undefined {
    let spans: SpanRecord[];
    const where = `OTLP/HTTP export ${this.store.nextNumber()}`;
    try {
      spans = type === 'json' ? spansFromOtlpJsonRequest(body, where) : spansFromOtlpProto(body, where);
    } catch (err) {
      // A missing @grpc/proto-loader refuses protobuf as an unsupported media type, naming the peer.
      const status = err instanceof KestConfigurationError ? 415 : 400;
      const details = err instanceof KestError ? err.message : String(err);
      return { kind: 'invalid', status, details };
    }
    return this.store.accept(body, spans);
  }

  /** Count the outcome and answer it: the response or a Status, in the request's content type. */
  #answer(
    req: IncomingMessage,
    res: ServerResponse,
    type: Body | undefined,
    refusal: HttpRefusal | undefined,
  ) {
    const contentType = type === 'protobuf' ? 'application/x-protobuf' : 'application/json';
    if (!refusal) {
      // An empty ExportTraceServiceResponse: no bytes in protobuf, {} in JSON.
      res.writeHead(200, { 'content-type': contentType }).end(type === 'protobuf' ? '' : '{}');
      return;
    }
    this.store.refuse(refusal);
    const status = refusal.status ?? STATUS[refusal.kind];
    const code = RPC_CODE[status] ?? 2;
    const body =
      type === 'protobuf'
        ? statusProto(code, refusal.details)
        : JSON.stringify({ code, message: refusal.details });
    const headers: Record<string, string> = { 'content-type': contentType };
    if (status === 405) headers.allow = 'POST';
    // A body left unread (too large, refused early) is not drained: the connection closes.
    if (!req.complete) headers.connection = 'close';
    res.writeHead(status, headers).end(body);
  }

  protected async shutdown(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
  }
}
