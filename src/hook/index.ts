export {
  configure,
  getActiveCache,
  getActiveEngine,
  getActiveIdentity,
  getActiveTrust,
  getConfiguration,
  getDeployment,
  getSanitizerPolicy,
  type KestConfigureOptions,
  resetConfiguration,
} from './config.js';
export { verified } from './decorator.js';
export {
  activeDeviations,
  type DeploymentConfig,
  type DeviationRule,
  loadDeploymentFile,
  loadDeploymentFromEnv,
  parseDeploymentConfig,
} from './deployment.js';
export {
  type KestVerifiedOptions,
  kestVerified,
  MAX_HASHED_INPUT_BYTES,
  type Resolvable,
} from './verified.js';
