/**
 * `kest audit --otlp-grpc HOST:PORT` / `--otlp-http HOST:PORT`: receive spans over OTLP until
 * stopped (SIGINT, SIGTERM, `--idle SECONDS` without an export, or the caller's signal), then hand
 * them to the audit. What the receiver refused is reported: an audit of incomplete input does not
 * pass.
 */
import { OtlpGrpcReceiver, OtlpHttpReceiver, type OtlpReceiverStats } from '../audit/index.js';
import { escapeTerminal } from '../entry/index.js';
import { KestConfigurationError } from '../index.js';
import type { SpanRecord } from '../telemetry/index.js';
import type { CliIo } from './io.js';

export interface ReceiveOptions {
  /** One of the two: where to listen, and over which transport. */
  otlpGrpc?: string | undefined;
  otlpHttp?: string | undefined;
  idle?: string | undefined;
  maxSpans?: string | undefined;
  record?: string | undefined;
}

export interface Received {
  address: string;
  spans: SpanRecord[];
  stats: OtlpReceiverStats;
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0 && n <= 7 * 24 * 3600)) {
    throw new KestConfigurationError(`${flag} must be a number of seconds > 0`);
  }
  return n * 1000;
}

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new KestConfigurationError(`${flag} must be a whole number > 0`);
  return n;
}

type Receiver = OtlpGrpcReceiver | OtlpHttpReceiver;

/** Resolves when the receiver should stop: a signal to the process, idleness, or `until`. */
function stopped(receiver: Receiver, idleMs: number | undefined, until?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const finish = (why: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      until?.removeEventListener('abort', onAbort);
      clearInterval(timer);
      resolve(why);
    };
    const onInt = () => finish('SIGINT');
    const onTerm = () => finish('SIGTERM');
    const onAbort = () => finish('stopped');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (until?.aborted) return finish('stopped');
    until?.addEventListener('abort', onAbort, { once: true });
    if (idleMs !== undefined) {
      timer = setInterval(
        () => {
          const last = receiver.stats.lastExportAt ?? started;
          if (Date.now() - last >= idleMs) finish(`idle ${idleMs / 1000} s`);
        },
        Math.min(250, idleMs / 4),
      );
    }
  });
}

/** Listen, report where on stderr, collect until stopped, and close. */
export async function receiveSpans(opts: ReceiveOptions, io: CliIo, until?: AbortSignal): Promise<Received> {
  const idleMs = seconds(opts.idle, '--idle');
  const maxSpans = count(opts.maxSpans, '--max-spans');
  const options = {
    ...(maxSpans !== undefined ? { maxSpans } : {}),
    ...(opts.record ? { recordTo: opts.record } : {}),
  };
  const receiver: Receiver =
    opts.otlpHttp === undefined
      ? await OtlpGrpcReceiver.start({ address: opts.otlpGrpc as string, ...options })
      : await OtlpHttpReceiver.start({ address: opts.otlpHttp, ...options });
  const where =
    receiver instanceof OtlpHttpReceiver
      ? `OTLP/HTTP on ${receiver.url}`
      : `OTLP/gRPC on ${receiver.address}`;
  io.stderr.write(
    `kest audit: receiving ${where} (plaintext; ${
      idleMs === undefined ? '' : `stops after ${idleMs / 1000} s without an export, `
    }Ctrl-C or SIGTERM stops and audits)\n`,
  );
  const why = await stopped(receiver, idleMs, until);
  await receiver.close();
  const stats = receiver.stats;
  io.stderr.write(
    `kest audit: stopped (${why}): received ${stats.spans} span(s) in ${stats.exports} export(s)${
      opts.record ? `, recorded to ${escapeTerminal(opts.record)}` : ''
    }\n`,
  );
  return { address: receiver.address, spans: receiver.spans(), stats };
}

/** What the receiver lost, as lines for stderr; none when it kept every request. */
export function refusalLines(stats: OtlpReceiverStats): string[] {
  const lines: string[] = [];
  if (stats.refusedExports > 0) {
    lines.push(
      `kest audit: refused ${stats.refusedExports} export(s) (${stats.refusedSpans} span(s) known): ${escapeTerminal(
        stats.firstRefusal ?? '',
      )}`,
    );
  }
  if (stats.unfinishedCalls > 0) {
    lines.push(
      `kest audit: ${stats.unfinishedCalls} export call(s) never reached the audit (larger than the message limit, cancelled or cut off)`,
    );
  }
  if (lines.length > 0) lines.push('kest audit: the audit covers only what was received: it does not pass');
  return lines;
}
