/**
 * `kest/spiffe/undici`: SPIFFE mutual TLS for undici and Node's fetch. Needs the optional peer
 * undici (its declarations name undici's types); everything else SPIFFE is in `kest/spiffe`.
 */
export { type SpiffeConnectorOptions, spiffeConnector, spiffeUndiciAgent } from './tls/undici.js';
