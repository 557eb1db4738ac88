/**
 * kest/redis: a CacheProvider on Redis (ioredis), for claim checks shared between services.
 * A separate entry point so core users never load ioredis.
 *
 * Fail fast, never hang: no offline queue, no per-request retries, bounded connect and command
 * timeouts. Every failure is a KestCacheError; "not found" is only ever a real miss.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { KestCacheError } from '../errors.js';
import { assertTtl, type CacheProvider } from './cache.js';

export interface RedisCacheOptions {
  /** `redis://[:password@]host:port/db`. Ignored when `client` is given. Default redis://127.0.0.1:6379. */
  url?: string;
  /** Extra ioredis options (the fail-fast ones below win unless set here explicitly). */
  redisOptions?: RedisOptions;
  /** An existing client. It is used as is (configure it to fail fast) and not closed by close(). */
  client?: Redis;
  /** Prefix of every key. Default `kest:claim:`. */
  keyPrefix?: string;
  /** Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Default 1000 ms. */
  commandTimeoutMs?: number;
}

export class RedisCacheProvider implements CacheProvider {
  readonly #client: Redis;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #connectTimeout: number;
  #lastError: Error | undefined;
  #closed = false;

  constructor(options: RedisCacheOptions = {}) {
    this.#prefix = options.keyPrefix ?? 'kest:claim:';
    this.#connectTimeout = options.connectTimeoutMs ?? 1000;
    const commandTimeout = options.commandTimeoutMs ?? 1000;
    if (options.client) {
      this.#client = options.client;
      this.#owned = false;
    } else {
      const failFast: RedisOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: this.#connectTimeout,
        commandTimeout,
        // Keep reconnecting in the background (capped backoff); requests meanwhile fail fast.
        retryStrategy: (times: number) => Math.min(times * 100, 2000),
      };
      // ioredis declares replyMapping `| undefined` in RedisOptions but not in its constructor types.
      const merged = { ...failFast, ...options.redisOptions } as RedisOptions & { replyMapping?: never };
      this.#client = options.url ? new Redis(options.url, merged) : new Redis(merged);
      this.#owned = true;
    }
    // Without a listener ioredis prints every connection error; keep the last for messages.
    this.#client.on('error', (err: Error) => {
      this.#lastError = err;
    });
  }

  /** The underlying client (e.g. to share it). */
  get client(): Redis {
    return this.#client;
  }

  async get(key: string): Promise<string | undefined> {
    const client = await this.#ready();
    try {
      const value = await client.get(this.#prefix + key);
      return value ?? undefined;
    } catch (err) {
      throw this.#error('GET', err);
    }
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    assertTtl(ttlSeconds);
    const client = await this.#ready();
    try {
      // One command: the value never exists without its expiry.
      const reply = Number.isInteger(ttlSeconds)
        ? await client.set(this.#prefix + key, value, 'EX', ttlSeconds)
        : await client.set(this.#prefix + key, value, 'PX', Math.ceil(ttlSeconds * 1000));
      if (reply !== 'OK') throw new Error(`unexpected reply ${String(reply)}`);
    } catch (err) {
      throw this.#error('SET', err);
    }
  }

  async delete(key: string): Promise<void> {
    const client = await this.#ready();
    try {
      await client.del(this.#prefix + key);
    } catch (err) {
      throw this.#error('DEL', err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#owned) return;
    const client = this.#client;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    client.disconnect();
  }

  #error(op: string, err: unknown): KestCacheError {
    if (err instanceof KestCacheError) return err;
    return new KestCacheError(`redis ${op} failed: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }

  /** The client once it is ready, waiting at most connectTimeoutMs; else a KestCacheError. */
  async #ready(): Promise<Redis> {
    if (this.#closed) throw new KestCacheError('redis cache is closed');
    const client = this.#client;
    if (client.status === 'ready') return client;
    if (client.status === 'end' && !this.#owned) throw new KestCacheError('redis client has ended');
    if (client.status === 'wait' || client.status === 'end') {
      // connect() rejects on failure; the 'ready'/'error' race below reports it.
      client.connect().catch(() => {});
    }
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        client.off('end', onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (err: Error) => done(this.#error('connect', err));
      const onEnd = () => done(new KestCacheError('redis connection ended'));
      const timer = setTimeout(() => {
        const why = this.#lastError ? `: ${this.#lastError.message}` : '';
        done(new KestCacheError(`redis not ready after ${this.#connectTimeout} ms${why}`));
      }, this.#connectTimeout);
      client.once('ready', onReady);
      client.once('error', onError);
      client.once('end', onEnd);
    });
    return client;
  }
}
export {
  RedisReplayStore,
  type RedisReplayStoreOptions,
  type RedisSetNxClient,
} from '../handoff/redis-replay.js';
