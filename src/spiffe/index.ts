/**
 * kest/spiffe: SPIFFE workload identity for Kest — SPIFFE IDs, X.509-SVIDs, trust bundles, a
 * Workload API client (X509Source), the SPIREProvider identity, the SpiffeTrustSource verifier
 * anchor, and a development Workload API server.
 */

export { OIDC_LABEL, OIDCIdentity, type OIDCIdentityOptions } from '../identity/oidc.js';
export {
  AutoDetector,
  type Detection,
  type DetectOptions,
  type IdentityKind,
} from './autodetect.js';
export { BundleSet, type BundleSource, SpiffeBundle, type SpiffeBundleInit } from './bundle.js';
export {
  type CertificateTemplate,
  DevCertificateAuthority,
  type IssueOptions,
  issueCertificate,
  type SvidKeyType,
} from './ca.js';
export {
  decodeX5c,
  derToPem,
  KeyUsage,
  type ParsedCertificate,
  parseCertificate,
  parseCertificates,
  pemToDer,
} from './certificate.js';
export { DevAgent, type DevAgentOptions } from './dev-agent.js';
export {
  DEFAULT_SPIRE_SOCKET,
  ENDPOINT_ENV,
  endpointFromEnv,
  parseEndpoint,
  type WorkloadEndpoint,
} from './endpoint.js';
export { KestSpiffeError, type SpiffeErrorReason } from './errors.js';
export { WORKLOAD_API_DESCRIPTOR, WORKLOAD_API_HEADER } from './proto.js';
export {
  isSpiffeId,
  MAX_SPIFFE_ID_LENGTH,
  MAX_TRUST_DOMAIN_LENGTH,
  SpiffeId,
  TrustDomain,
} from './spiffeid.js';
export { SPIREProvider, type SPIREProviderOptions, type SvidSource } from './spire.js';
export {
  authorizeAny,
  authorizeID,
  authorizeMemberOf,
  authorizeOneOf,
  type PeerAuthorizer,
} from './tls/authorize.js';
export { SpiffeHttpsAgent } from './tls/client.js';
export type { MtlsOptions, MtlsSource } from './tls/material.js';
export {
  type PeerCarrier,
  peerSpiffeId,
  peerVerification,
  SpiffeTlsServer,
  type SpiffeTlsServerOptions,
} from './tls/server.js';
export { SpiffeTrustSource, type SpiffeTrustSourceOptions, type SvidValidity } from './trust-source.js';
export {
  type JwtSvid,
  parseX509SVIDResponse,
  type StreamHandle,
  WorkloadApiClient,
  type WorkloadApiClientOptions,
  type X509Context,
} from './workloadapi.js';
export { X509Source, type X509SourceListener, type X509SourceOptions } from './x509source.js';
export {
  type ChainVerification,
  checkValidAt,
  MAX_CHAIN_LENGTH,
  svidIdFromLeaf,
  verifySvidChain,
  X509SVID,
} from './x509svid.js';
