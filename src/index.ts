/**
 * kest: what an application calls — the hook (kestVerified / @verified), configure(), the ambient
 * context, passports and their verifier, trust sources, identity providers, the trust model,
 * errors and types. Building blocks live behind subpaths: kest/wire (JCS, JWS, hashes, entries),
 * kest/testing (mocks), and one subpath per integration (kest/spiffe, kest/express, ...).
 */

export {
  getCurrentAgent,
  getCurrentJwt,
  getCurrentPassport,
  getCurrentTask,
  getCurrentUser,
  getUntrustedBaggageClaims,
  getUpstreamClaims,
  getValidatedIdentity,
  type IdentityClaims,
  runWithPassport,
  runWithUpstreamClaims,
  runWithValidatedIdentity,
  type ValidatedIdentity,
} from './context/index.js';
export type { KestEntryPayload, PolicyContextPayload, SignedEntry } from './entry/index.js';
export * from './errors.js';
export {
  configure,
  type DeploymentConfig,
  type DeviationRule,
  type KestConfigureOptions,
  type KestVerifiedFunction,
  type KestVerifiedOptions,
  kestVerified,
  loadDeploymentFile,
  loadDeploymentFromEnv,
  MAX_HASHED_INPUT_BYTES,
  parseDeploymentConfig,
  type Resolvable,
  resetConfiguration,
  verified,
} from './hook/index.js';
export { Ed25519Key, jwkThumbprint } from './identity/ed25519.js';
export { type FileIdentityOptions, FileIdentityProvider } from './identity/file.js';
export { LocalEd25519Provider } from './identity/local.js';
export type { IdentityProvider, PublicJwk, SigningKey, SignOptions } from './identity/provider.js';
export { JwksTrustSource } from './keys/jwks.js';
export type { KeyRequest, TrustSource } from './keys/trust-source.js';
export { type KestLogger, silentLogger, stderrLogger } from './logger.js';
export * from './passport/index.js';
export {
  type Deviation,
  type EvaluateOptions,
  type EvaluationContext,
  type IdentityContext,
  POLICY_TIERS,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyTier,
} from './policy/types.js';
export * from './trust/index.js';
export { PACKAGE_VERSION } from './version.js';
export { INTEROP_PROFILES, type InteropProfile } from './wire/constants.js';
export { type Ed25519Backend, ed25519Backend } from './wire/ed25519.js';
