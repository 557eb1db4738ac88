/**
 * kest/policy: policy engines over REST (OPA, Cedar Agent) and their composition. The in-process
 * Cedar engine lives in kest/cedar (it loads the Cedar WebAssembly module); the scripted mock in
 * kest/testing.
 */

export {
  CedarAgentEngine,
  type CedarAgentEngineOptions,
  CedarPolicyEngine,
  type CedarPolicyEngineOptions,
} from './cedar-agent.js';
export { type CedarContextShape, type CedarValue, toCedarContext } from './cedar-context.js';
export {
  AllOfPolicyEngine,
  allOf,
  engineForTier,
  type TierEngines,
  TieredPolicyEngine,
} from './composite.js';
export { KestUnknownPolicyError } from './errors.js';
export { OPAPolicyEngine, type OPAPolicyEngineOptions } from './opa.js';
export type { RestEngineOptions } from './rest.js';
export * from './types.js';
