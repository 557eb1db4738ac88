/**
 * kest/policy: policy engines over REST (OPA, Cedar Agent), composition, and a mock for tests.
 * The in-process Cedar engine lives in kest/cedar (it loads the Cedar WebAssembly module).
 */

export { CedarPolicyEngine, type CedarPolicyEngineOptions } from './cedar-agent.js';
export { type CedarContextShape, type CedarValue, toCedarContext } from './cedar-context.js';
export {
  AllOfPolicyEngine,
  allOf,
  engineForTier,
  type TierEngines,
  TieredPolicyEngine,
} from './composite.js';
export { KestUnknownPolicyError } from './errors.js';
export type { RestEngineOptions } from './http.js';
export {
  type MockBehaviour,
  type MockPolicyCall,
  MockPolicyEngine,
  type MockPolicyEngineOptions,
} from './mock.js';
export { OPAPolicyEngine, type OPAPolicyEngineOptions } from './opa.js';
export * from './types.js';
