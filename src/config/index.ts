export { type KestLogger, silentLogger, stderrLogger } from '../logger.js';
export {
  configure,
  getActiveCache,
  getActiveEngine,
  getActiveIdentity,
  getActiveTrust,
  getConfiguration,
  getDeployment,
  getRootRules,
  getSanitizerPolicy,
  type KestConfigureOptions,
  resetConfiguration,
} from './config.js';
export {
  activeDeviations,
  type DeploymentConfig,
  type DeviationRule,
  loadDeploymentFile,
  loadDeploymentFromEnv,
  parseDeploymentConfig,
} from './deployment.js';
