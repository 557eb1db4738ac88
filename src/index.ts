/**
 * kest: the core entry point — wire format, entries, passports, verification, trust, identity.
 * Integrations live behind subpath exports (kest/spiffe, kest/express, ...).
 */
export * from './entry/index.js';
export * from './errors.js';
export type { IdentityProvider, PublicJwk, SigningKey, SignOptions } from './identity/provider.js';
export type { KeyRequest, TrustSource } from './keys/trust-source.js';
export * from './policy/types.js';
export { PACKAGE_VERSION } from './version.js';
export * from './wire/index.js';
