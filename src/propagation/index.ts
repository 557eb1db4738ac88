/**
 * kest/propagation: the W3C baggage codec, the BaggageManager (inline / compressed / claim check,
 * docs/spec.md §5) and the in-memory cache. The Redis cache is a separate entry point (kest/redis).
 */
export {
  BAGGAGE_HEADER,
  BAGGAGE_LIMITS,
  BAGGAGE_RECEIVE_LIMITS,
  type BaggageLimits,
  type BaggageMember,
  type BaggageMembers,
  type BaggageProperty,
  decodeBaggageValue,
  encodeBaggageValue,
  encodedMemberBytes,
  isBaggageKey,
  parseBaggage,
  parseBaggageMembers,
  serializeBaggage,
  serializeMember,
  toBaggageMembers,
} from './baggage.js';
export { type CacheProvider, type MemoryCacheOptions, MemoryCacheProvider } from './cache.js';
export {
  BaggageManager,
  type BaggageManagerOptions,
  identityMembers,
  type PropagationTier,
  passportTier,
  readUpstreamIdentity,
  type StoreOptions,
  type UpstreamIdentity,
} from './manager.js';
export {
  parseReferenceBaggage,
  type ReferenceBaggage,
  readReferenceBaggage,
  restoreReference,
  unpadCompressed,
} from './reference.js';
