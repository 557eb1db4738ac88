import { KestPolicyEngineError } from '../errors.js';

/** Options shared by the REST engines (OPA, Cedar Agent). */
export interface RestEngineOptions {
  /** Per-call deadline for the whole exchange (connect, request, response body). Default 1000 ms. */
  timeoutMs?: number;
  /** Extra request headers, e.g. `authorization` for an OPA or Cedar Agent behind a token. */
  headers?: Record<string, string> | undefined;
  /**
   * An undici Dispatcher (e.g. `new Agent({ keepAliveTimeout })`) passed to fetch. By default Node's
   * global dispatcher is used, which already keeps connections alive.
   */
  dispatcher?: unknown | undefined;
  /** Largest response body read, in bytes; a larger one is a malformed answer. Default 1 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_MAX_RESPONSE_BYTES = 1 << 20;
const TIMEOUT = Symbol('kest.policy.timeout');
const CALLER_ABORT = Symbol('kest.policy.caller-abort');

export function validateBaseUrl(engine: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new KestPolicyEngineError(`${engine}: invalid base URL ${JSON.stringify(url)}`, 'engine_error', {
      cause,
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new KestPolicyEngineError(
      `${engine}: base URL must be http(s), got ${parsed.protocol}`,
      'engine_error',
    );
  }
  return parsed.href.replace(/\/+$/, '');
}

export function validateTimeout(engine: string, timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(value) || value <= 0) {
    throw new KestPolicyEngineError(`${engine}: timeoutMs must be a positive number`, 'engine_error');
  }
  return value;
}

export type RestSettings = Required<Pick<RestEngineOptions, 'timeoutMs' | 'maxResponseBytes'>> &
  Pick<RestEngineOptions, 'headers' | 'dispatcher'>;

/** The validated per-call settings of a REST engine, from its options. */
export function restSettings(engine: string, options: RestEngineOptions): RestSettings {
  return {
    timeoutMs: validateTimeout(engine, options.timeoutMs),
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    headers: options.headers,
    dispatcher: options.dispatcher,
  };
}

/**
 * POSTs a JSON body and returns the parsed JSON answer of a 200 response. Every other outcome throws
 * KestPolicyEngineError whose `reason` says which: `unreachable` (refused, reset, closed before an
 * answer), `timeout` (our deadline or the caller's signal), `http_status` (not 200), `malformed` (not
 * JSON, or too large). No retries: a retry doubles the latency of a denial and hides a sick engine.
 */
export async function postJson(
  engine: string,
  url: string,
  body: unknown,
  options: RestSettings,
  signal?: AbortSignal,
): Promise<unknown> {
  if (signal?.aborted) {
    throw new KestPolicyEngineError(`${engine}: evaluation aborted before the request`, 'timeout', {
      cause: signal.reason,
    });
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(TIMEOUT), options.timeoutMs);
  const onCallerAbort = () => controller.abort(CALLER_ABORT);
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    let response: Response;
    try {
      const init: RequestInit = {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
        body: JSON.stringify(body),
        signal: controller.signal,
      };
      // Node's fetch is undici's and honours a `dispatcher` (connection pool) in its init.
      if (options.dispatcher !== undefined) (init as Record<string, unknown>).dispatcher = options.dispatcher;
      response = await fetch(url, init);
    } catch (cause) {
      throw classifyFetchError(engine, url, cause, controller.signal);
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new KestPolicyEngineError(`${engine}: ${url} answered HTTP ${response.status}`, 'http_status');
    }
    let text: string;
    try {
      text = await readBounded(response, options.maxResponseBytes);
    } catch (cause) {
      if (cause instanceof KestPolicyEngineError) throw cause;
      throw classifyFetchError(engine, url, cause, controller.signal);
    }
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new KestPolicyEngineError(`${engine}: ${url} answered a body that is not JSON`, 'malformed', {
        cause,
      });
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
  }

  async function readBounded(response: Response, max: number): Promise<string> {
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > max) {
      await response.body?.cancel().catch(() => {});
      throw new KestPolicyEngineError(`${engine}: answer of ${declared} bytes exceeds ${max}`, 'malformed');
    }
    if (response.body === null) return '';
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw new KestPolicyEngineError(`${engine}: answer exceeds ${max} bytes`, 'malformed');
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  }
}

function classifyFetchError(
  engine: string,
  url: string,
  cause: unknown,
  signal: AbortSignal,
): KestPolicyEngineError {
  if (signal.aborted) {
    const why = signal.reason === CALLER_ABORT ? 'aborted by the caller' : 'timed out';
    return new KestPolicyEngineError(`${engine}: request to ${url} ${why}`, 'timeout', { cause });
  }
  // Refused, reset, closed before an answer, DNS: all mean "no decision from the engine".
  const code = errorCode(cause);
  return new KestPolicyEngineError(
    `${engine}: ${url} unreachable${code ? ` (${code})` : ''}`,
    'unreachable',
    {
      cause,
    },
  );
}

/** fetch wraps network errors in TypeError('fetch failed') with the system error as `cause`. */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
