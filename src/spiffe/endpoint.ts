/**
 * Workload API endpoint addresses (SPIFFE Workload Endpoint standard §4): `unix:///path/to/socket`
 * or `tcp://<IP>:<port>`, usually from SPIFFE_ENDPOINT_SOCKET. Strict like go-spiffe: no host in a
 * unix URI, an IP (not a name) and a port for tcp, no query, fragment or userinfo.
 */
import { isIP } from 'node:net';
import { KestSpiffeError } from './errors.js';

export const ENDPOINT_ENV = 'SPIFFE_ENDPOINT_SOCKET';
/** Where a SPIRE agent listens by default. */
export const DEFAULT_SPIRE_SOCKET = 'unix:///tmp/spire-agent/public/api.sock';

export interface WorkloadEndpoint {
  /** The address as configured. */
  readonly address: string;
  /** grpc-js target string. */
  readonly target: string;
  readonly kind: 'unix' | 'tcp';
  /** Socket path for unix endpoints. */
  readonly path?: string;
}

/**
 * Parse an endpoint address. A bare absolute path (`/run/spire/agent.sock`) is accepted as a
 * convenience for configuration files and means `unix://` + path.
 */
export function parseEndpoint(address: string): WorkloadEndpoint {
  const invalid = (m: string) =>
    new KestSpiffeError('invalid_endpoint', `invalid Workload API address ${JSON.stringify(address)}: ${m}`);
  if (typeof address !== 'string' || address.length === 0) throw invalid('empty');
  if (address.startsWith('/')) return { address, target: `unix:${address}`, kind: 'unix', path: address };
  let url: URL;
  try {
    url = new URL(address);
  } catch (err) {
    throw new KestSpiffeError(
      'invalid_endpoint',
      `invalid Workload API address ${JSON.stringify(address)}: not a URI`,
      { cause: err },
    );
  }
  if (url.search || url.hash) throw invalid('query and fragment are not allowed');
  if (url.username || url.password) throw invalid('userinfo is not allowed');
  if (url.protocol === 'unix:') {
    if (url.host !== '') throw invalid('a unix address has no authority (use unix:///path)');
    const path = decodeURIComponent(url.pathname);
    if (path === '' || path === '/') throw invalid('socket path is empty');
    return { address, target: `unix:${path}`, kind: 'unix', path };
  }
  if (url.protocol === 'tcp:') {
    if (url.pathname !== '' && url.pathname !== '/') throw invalid('a tcp address has no path');
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const family = isIP(host);
    if (family === 0) throw invalid('host must be an IP address');
    if (url.port === '') throw invalid('port is required');
    return {
      address,
      target: family === 6 ? `ipv6:[${host}]:${url.port}` : `ipv4:${host}:${url.port}`,
      kind: 'tcp',
    };
  }
  throw invalid('scheme must be unix or tcp');
}

/** The configured address, else SPIFFE_ENDPOINT_SOCKET; undefined when neither is set. */
export function endpointFromEnv(configured?: string): string | undefined {
  return configured ?? (process.env[ENDPOINT_ENV] || undefined);
}
