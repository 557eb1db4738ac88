/**
 * kest: the core entry point — wire format, entries, passports, verification, trust, identity.
 * Integrations live behind subpath exports (kest/spiffe, kest/express, ...).
 */

export * from './context/index.js';
export * from './entry/index.js';
export * from './errors.js';
export * from './hook/index.js';
export { Ed25519Key, jwkThumbprint } from './identity/ed25519.js';
export { LocalEd25519Provider } from './identity/local.js';
export { MockIdentityProvider } from './identity/mock.js';
export type { IdentityProvider, PublicJwk, SigningKey, SignOptions } from './identity/provider.js';
export { JwksTrustSource } from './keys/jwks.js';
export type { KeyRequest, TrustSource } from './keys/trust-source.js';
export { type KestLogger, silentLogger, stderrLogger } from './logger.js';
export * from './passport/index.js';
export * from './policy/types.js';
export * from './trust/index.js';
export { PACKAGE_VERSION } from './version.js';
export * from './wire/index.js';
