/**
 * Spans as JSON lines (one SpanRecord per line, see record.ts), appended to a file. Each export is
 * one write(2) on an O_APPEND descriptor, so a process crash loses nothing already exported and
 * concurrent writers never interleave inside a line; forceFlush() and shutdown() fsync, so an
 * orderly stop is durable across power loss too.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { toSpanRecord } from './record.js';

export interface JsonLinesExporterOptions {
  path: string;
  /** service.name written when a span's resource has none. */
  serviceName?: string;
  /** fsync after every export (slower; survives power loss without a clean shutdown). Default false. */
  fsyncEachExport?: boolean;
}

export class JsonLinesSpanExporter implements SpanExporter {
  readonly path: string;
  readonly #serviceName: string | undefined;
  readonly #fsyncEach: boolean;
  #fd: number | undefined;

  constructor(options: JsonLinesExporterOptions) {
    this.path = options.path;
    this.#serviceName = options.serviceName;
    this.#fsyncEach = options.fsyncEachExport ?? false;
    mkdirSync(dirname(options.path), { recursive: true });
    this.#fd = openSync(options.path, 'a', 0o640);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const fd = this.#fd;
    if (fd === undefined) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    try {
      let text = '';
      for (const span of spans) text += `${JSON.stringify(toSpanRecord(span, this.#serviceName))}\n`;
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      if (this.#fsyncEach) fsyncSync(fd);
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  async forceFlush(): Promise<void> {
    if (this.#fd !== undefined) fsyncSync(this.#fd);
  }

  async shutdown(): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    fsyncSync(fd);
    closeSync(fd);
  }
}
