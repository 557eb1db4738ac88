/**
 * Reading a file an operator points Kest at (a JWKS, a bundle, a passport, a span document) with a
 * size bound: a hostile or mistaken path (/dev/zero, a FIFO, a huge log) fails fast with EFBIG
 * instead of exhausting memory. Character devices and pipes report size 0, so the bound is on the
 * bytes actually read, not on stat.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Default bound for small configuration files (JWKS, bundles, sanitizer rules): 16 MiB. */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

/** An fs-style error: `code` is 'EFBIG', the message names the file and the bound. */
export function fileTooLarge(path: string, maxBytes: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${path} is larger than ${maxBytes} bytes`);
  err.code = 'EFBIG';
  err.path = path;
  return err;
}

/** The file's text (UTF-8), reading at most maxBytes + 1 bytes; throws EFBIG beyond maxBytes. */
export function readFileBounded(path: string, maxBytes: number = MAX_CONFIG_FILE_BYTES): string {
  return readBytesBounded(path, maxBytes).toString('utf8');
}

/** The file's bytes, reading at most maxBytes + 1 bytes; throws EFBIG beyond maxBytes. */
export function readBytesBounded(path: string, maxBytes: number = MAX_CONFIG_FILE_BYTES): Buffer {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw fileTooLarge(path, maxBytes);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
