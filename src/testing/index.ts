/**
 * kest/testing: stand-ins for tests — a deterministic identity (key derived from a seed) and a
 * scripted policy engine (allow / deny / throw / hang per policy, with a call log).
 */
export { MockIdentityProvider } from '../identity/mock.js';
export {
  type MockBehaviour,
  type MockPolicyCall,
  MockPolicyEngine,
  type MockPolicyEngineOptions,
} from '../policy/mock.js';
