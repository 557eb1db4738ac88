export {
  activeDeviations,
  configure,
  type DeploymentConfig,
  type DeviationRule,
  getActiveCache,
  getActiveEngine,
  getActiveIdentity,
  getActiveTrust,
  getConfiguration,
  getDeployment,
  getSanitizerPolicy,
  type KestConfigureOptions,
  loadDeploymentFile,
  loadDeploymentFromEnv,
  parseDeploymentConfig,
  resetConfiguration,
} from '../config/index.js';
export { verified } from './decorator.js';
export {
  type KestVerifiedFunction,
  type KestVerifiedOptions,
  kestVerified,
  MAX_HASHED_INPUT_BYTES,
  type Resolvable,
} from './verified.js';
