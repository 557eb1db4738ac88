/**
 * Issue 15 item 4, OTLP/gRPC: the reference runtime exports its spans over OTLP/gRPC. The
 * generator's reference-shaped spans reach `kest audit` as OTLP protobuf three ways — its own
 * hand-encoded ExportTraceServiceRequest sent by a raw grpc-js client, the same spans sent by the
 * official OpenTelemetry OTLP/gRPC exporter, and its protobuf files (a request body and the
 * collector's `format: proto`) — and each audits to the verdicts of its JSON-array export: verified
 * under `--profile reference`, failed under the default. The same over OTLP/HTTP (the request body
 * posted raw, the official protobuf and JSON exporters). Then the CLI: `kest audit --otlp-grpc`
 * and `--otlp-http`.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditOptions,
  auditFile,
  auditSpans,
  OtlpGrpcReceiver,
  OtlpHttpReceiver,
  readSpansFile,
} from '../../src/audit/index.js';
import { runAudit } from '../../src/cli/commands/audit.js';
import { JwksTrustSource } from '../../src/index.js';
import { exportVia, grpcExporter, readableSpans, sendRaw, verdicts } from '../audit/otlp-send.js';
import { outputOf } from '../support/kest-bin.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'test/interop/kest_reference_shape.py');
let dir: string;
let trust: JwksTrustSource;
const at = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kest-refotlp-'));
  const r = spawnSync('/usr/bin/python3', [SCRIPT, dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`generator failed: ${r.error?.message ?? r.stderr}`);
  trust = new JwksTrustSource(JSON.parse(readFileSync(at('jwks.json'), 'utf8')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const reference = (): AuditOptions => ({ trust, profile: 'reference', workers: 0 });
const strict = (): AuditOptions => ({ trust, workers: 0 });

/** The verdicts of the JSON-array export, the yardstick for every other carrier. */
async function expected(options: AuditOptions) {
  return verdicts(await auditFile(at('spans.json'), options));
}

describe('reference spans as OTLP protobuf', () => {
  it('its protobuf files (request body, collector format: proto) audit like its JSON export', async () => {
    const ref = await expected(reference());
    expect(ref.every((v) => v.status === 'verified')).toBe(true);
    expect(ref.map((v) => v.entries.length).sort()).toEqual([3, 6]);
    for (const f of ['otlp-request.pb', 'otlp-collector.pb']) {
      expect(verdicts(await auditFile(at(f), reference()))).toEqual(ref);
      const spec = verdicts(await auditFile(at(f), strict()));
      expect(spec).toEqual(await expected(strict()));
      expect(spec.every((v) => v.status === 'failed')).toBe(true);
    }
  });

  it('sent over OTLP/gRPC by a raw grpc-js client and by the official exporter: the same verdicts', async () => {
    const raw = await OtlpGrpcReceiver.start({ address: '127.0.0.1:0' });
    const official = await OtlpGrpcReceiver.start({ address: '127.0.0.1:0' });
    try {
      expect(await sendRaw(raw.address, readFileSync(at('otlp-request.pb')))).toMatchObject({ code: 0 });
      const spans = readableSpans(await readSpansFile(at('spans.json')));
      expect(await exportVia(grpcExporter(official.address), spans)).toEqual({ code: 0 });
      for (const r of [raw, official]) {
        expect(r.stats).toMatchObject({ spans: 9, refusedExports: 0 });
        expect(verdicts(await auditSpans(r.spans(), reference()))).toEqual(await expected(reference()));
        expect(verdicts(await auditSpans(r.spans(), strict()))).toEqual(await expected(strict()));
      }
      // The reference's unsigned attributes arrive typed (read, never trusted).
      expect(raw.spans()[0]?.attributes).toMatchObject({
        'kest.allowed': true,
        'kest.trust_score': 100,
        'kest.policy_ids': ['ingest'],
      });
      expect(raw.spans()[0]?.scope.name).toBe('kest.core.framework.decorators');
    } finally {
      await raw.close();
      await official.close();
    }
  });
});

/** One raw POST; resolves with the status. */
function post(url: string, body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': contentType } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('reference spans over OTLP/HTTP', () => {
  it('its request body posted raw, the official protobuf and JSON exporters: the same verdicts', async () => {
    const receivers = await Promise.all(
      [0, 1, 2].map(() => OtlpHttpReceiver.start({ address: '127.0.0.1:0' })),
    );
    const [raw, proto, json] = receivers as [OtlpHttpReceiver, OtlpHttpReceiver, OtlpHttpReceiver];
    try {
      expect(await post(raw.url, readFileSync(at('otlp-request.pb')), 'application/x-protobuf')).toBe(200);
      const spans = readableSpans(await readSpansFile(at('spans.json')));
      expect(await exportVia(new ProtoExporter({ url: proto.url }), spans)).toEqual({ code: 0 });
      expect(await exportVia(new JsonExporter({ url: json.url }), spans)).toEqual({ code: 0 });
      for (const r of receivers) {
        expect(r.stats).toMatchObject({ spans: 9, refusedExports: 0 });
        expect(verdicts(await auditSpans(r.spans(), reference()))).toEqual(await expected(reference()));
        expect(verdicts(await auditSpans(r.spans(), strict()))).toEqual(await expected(strict()));
      }
    } finally {
      for (const r of receivers) await r.close();
    }
  });
});

/** A live `kest audit --otlp-grpc` / `--otlp-http` child: resolves with it once it says where it listens. */
function startCli(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; address: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', ...args], {
    cwd: ROOT,
    env: { ...process.env, KEST_LOG_LEVEL: 'silent' },
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /receiving OTLP\/(?:gRPC|HTTP) on (\S+) /.exec(err);
      if (m) resolve({ child, address: m[1] as string });
    });
    child.on('exit', (code) => reject(new Error(`kest audit exited ${code}: ${err}`)));
  });
}

/** An in-process CLI io that keeps its output and resolves `where` with the address it announces. */
function capture(announce: RegExp) {
  const out = { stdout: '', stderr: '' };
  let listening: (address: string) => void = () => undefined;
  const where = new Promise<string>((resolve) => {
    listening = resolve;
  });
  const io = {
    stdout: { write: (t: string) => (out.stdout += t) },
    stderr: {
      write: (t: string) => {
        out.stderr += t;
        const m = announce.exec(t);
        if (m) listening(m[1] as string);
      },
    },
  };
  return { io, where, out };
}

describe('kest audit --otlp-grpc', () => {
  it('receives until Ctrl-C (SIGINT), then audits: reference spans verified', async () => {
    const jwks = at('jwks.json');
    const args = ['--otlp-grpc', '127.0.0.1:0', '--jwks', jwks, '--profile', 'reference', '--json'];
    const { child, address } = await startCli([...args, '--workers', '0', '--record', at('live.pb')]);
    const done = outputOf(child);
    const spans = readableSpans(await readSpansFile(at('spans.json')));
    expect(await exportVia(grpcExporter(address), spans)).toEqual({ code: 0 });
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary).toMatchObject({ traces: 2, verified: 2, failed: 0, entries: 9 });
    expect(out.receiver).toMatchObject({ address, exports: 1, spans: 9, refusedExports: 0 });
    expect(r.stderr).toMatch(/stopped \(SIGINT\): received 9 span\(s\) in 1 export\(s\)/);
    // The recording audits the same, as a file.
    expect(verdicts(await auditFile(at('live.pb'), reference()))).toEqual(await expected(reference()));
  }, 60_000);

  it('a refused export makes the audit fail even when what arrived verifies (exit 1)', async () => {
    const { io, where, out } = capture(/receiving OTLP\/gRPC on (\S+) /);
    const stop = new AbortController();
    const opts = {
      otlpGrpc: '127.0.0.1:0',
      jwks: [at('jwks.json')],
      profile: 'reference',
      workers: '0',
      summary: true,
    };
    const running = runAudit(undefined, opts, io, stop.signal);
    const address = await where;
    expect(await sendRaw(address, readFileSync(at('otlp-request.pb')))).toMatchObject({ code: 0 });
    expect(await sendRaw(address, Buffer.from('not protobuf'))).toMatchObject({ code: 3 });
    stop.abort();
    expect(await running).toBe(1);
    expect(out.stdout).toMatch(/2 trace\(s\): 2 verified, 0 failed/);
    expect(out.stderr).toMatch(/refused 1 export\(s\)/);
    expect(out.stderr).toMatch(/does not pass/);
  });

  it('--idle stops a receiver that got nothing; usage errors exit 2', async () => {
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } };
    let err = '';
    const base = { jwks: [at('jwks.json')], workers: '0' };
    expect(await runAudit(undefined, { ...base, otlpGrpc: '127.0.0.1:0', idle: '0.2' }, io)).toBe(1);
    expect(err).toMatch(
      /stopped \(idle 0.2 s\): received 0 span\(s\)[\s\S]*no Kest spans in what was received/,
    );
    err = '';
    expect(await runAudit(at('spans.json'), { ...base, otlpGrpc: '127.0.0.1:0' }, io)).toBe(2);
    expect(await runAudit(undefined, base, io)).toBe(2);
    expect(err).toMatch(/give a span file, --otlp-grpc HOST:PORT or --otlp-http HOST:PORT/);
    expect(await runAudit(undefined, { ...base, otlpGrpc: '127.0.0.1:0', idle: '0' }, io)).toBe(2);
    expect(await runAudit(undefined, { ...base, otlpGrpc: 'nowhere' }, io)).toBe(2);
    expect(err).toMatch(/expected host:port/);
  });
});

describe('kest audit --otlp-http', () => {
  it('receives until Ctrl-C (SIGINT), then audits: reference spans verified', async () => {
    const args = ['--otlp-http', '127.0.0.1:0', '--jwks', at('jwks.json'), '--profile', 'reference'];
    const { child, address: url } = await startCli([...args, '--json', '--record', at('live.jsonl')]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/);
    const done = outputOf(child);
    const spans = readableSpans(await readSpansFile(at('spans.json')));
    expect(await exportVia(new ProtoExporter({ url }), spans)).toEqual({ code: 0 });
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary).toMatchObject({ traces: 2, verified: 2, failed: 0, entries: 9 });
    expect(out.receiver).toMatchObject({ exports: 1, spans: 9, refusedExports: 0, unfinishedCalls: 0 });
    expect(url).toContain(out.receiver.address);
    expect(r.stderr).toMatch(/stopped \(SIGINT\): received 9 span\(s\) in 1 export\(s\)/);
    // The recording (JSON lines) audits the same, as a file.
    expect(verdicts(await auditFile(at('live.jsonl'), reference()))).toEqual(await expected(reference()));
  }, 60_000);

  it('in-process: a refused export makes the audit fail (exit 1); two sources are a usage error', async () => {
    const { io, where, out } = capture(/receiving OTLP\/HTTP on (\S+) /);
    const stop = new AbortController();
    const base = { jwks: [at('jwks.json')], profile: 'reference', workers: '0' };
    const running = runAudit(undefined, { ...base, otlpHttp: '127.0.0.1:0', summary: true }, io, stop.signal);
    const url = await where;
    expect(await post(url, readFileSync(at('otlp-request.pb')), 'application/x-protobuf')).toBe(200);
    expect(await post(url, Buffer.from('{"resourceSpans":'), 'application/json')).toBe(400);
    stop.abort();
    expect(await running).toBe(1);
    expect(out.stdout).toMatch(/2 trace\(s\): 2 verified, 0 failed/);
    expect(out.stderr).toMatch(/refused 1 export\(s\)[^\n]*not JSON/);
    expect(out.stderr).toMatch(/does not pass/);
    const both = { ...base, otlpHttp: '127.0.0.1:0', otlpGrpc: '127.0.0.1:0' };
    expect(await runAudit(undefined, both, io)).toBe(2);
    expect(out.stderr).toMatch(/one of them/);
  });
});
