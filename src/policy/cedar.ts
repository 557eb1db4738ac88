/** kest/cedar: the in-process Cedar engine (loads @cedar-policy/cedar-wasm, a peer dependency). */

export { type CedarContextShape, toCedarContext } from './cedar-context.js';
export {
  type CedarEntityTypes,
  type CedarFileOptions,
  CedarLocalEngine,
  type CedarLocalEngineOptions,
  type CedarPolicySource,
  KEST_POLICY_LIBRARY_DIR,
  KEST_POLICY_SCHEMA_PATH,
} from './cedar-local.js';
export { KestUnknownPolicyError } from './errors.js';
