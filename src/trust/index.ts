export {
  clampTrust,
  DefaultTrustEvaluator,
  type TrustEvaluator,
  type TrustInput,
  WeightedTrustEvaluator,
} from './evaluator.js';
export { hopTrust, parseTrustOverride } from './lineage.js';
export { DEFAULT_SELF_TRUST, extendOriginMap, ORIGIN_TRUST_MAP, UNKNOWN_ORIGIN_TRUST } from './origin.js';
export { SanitizerPolicy, type SanitizerRule } from './sanitizers.js';
export { computeTaints, effectiveRemovals } from './taints.js';
