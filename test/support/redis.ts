/**
 * Test support: a real `redis-server` on a free 127.0.0.1 port, without persistence, stopped by the
 * test. Shared by every suite that needs Redis; CI installs Debian's redis-server (.ci/run).
 *
 *   const redis = await startRedisServer();
 *   ... new RedisCacheProvider({ url: redis.url }) ...
 *   await redis.stop();
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** True until stop() or an unexpected exit. */
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Executable; default `redis-server` on PATH. */
  command?: string;
  /** How long to wait for PONG. Default 10 s. */
  readyTimeoutMs?: number;
  /** Extra redis-server arguments. */
  args?: string[];
}

const INSTALL_HINT =
  'redis-server is not installed: run `apt-get install -y redis-server` (Debian/Ubuntu; .ci/run does this in CI)';

/** Throws with an install hint when the binary is missing. */
export function assertRedisServerInstalled(command = 'redis-server'): void {
  const probe = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${INSTALL_HINT} (${probe.error?.message ?? probe.stderr.trim()})`);
  }
}

/** A port that was free a moment ago (the server may still lose a race; start() retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** One PING over RESP; resolves true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const finish = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => finish(false));
    sock.once('error', () => finish(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG'));
    });
  });
}

export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  const command = options.command ?? 'redis-server';
  assertRedisServerInstalled(command);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(command, await freePort(), options);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(command: string, port: number, options: StartRedisOptions): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kest-redis-'));
  const child: ChildProcess = spawn(
    command,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d) => {
    if (output.length < 8192) output += d.toString();
  });
  child.stderr?.on('data', (d) => {
    if (output.length < 8192) output += d.toString();
  });
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running = false;
      resolve();
    });
    child.once('error', (err) => {
      output += String(err);
      running = false;
      resolve();
    });
  });
  // Never leave a server behind if the test process dies first.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (!running) break;
    if (await ping(port)) {
      return {
        host: '127.0.0.1',
        port,
        url: `redis://127.0.0.1:${port}`,
        get running() {
          return running;
        },
        stop,
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`redis-server on port ${port} did not answer PING: ${output.trim() || 'no output'}`);
}
