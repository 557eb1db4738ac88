/**
 * Who may start a lineage at ingress (docs/http.md "Who may start a lineage"). A received root
 * entry's origin (its source_type, hence its trust) is a claim of its signer; only root rules make
 * it more than that. The rules come from the adapter's `roots` plus the deployment file's, or from
 * configure({ roots }) plus the deployment file's. With none anywhere the ingress does not trust the
 * claim: a received root may carry at most the trust of an unknown origin (UNGUARDED_ROOTS), so a
 * compromised hop that drops the lineage it received and re-roots it as `system` is refused
 * (`unauthorized_root`), and the adapter says once, at start, that origins are unguarded.
 */
import { getConfiguration, getDeployment, getRootRules } from '../config/config.js';
import type { KestLogger } from '../logger.js';
import { type RootRule, UNGUARDED_ROOTS } from '../passport/report.js';
import { UNKNOWN_ORIGIN_TRUST } from '../trust/origin.js';

/** The configured rules an ingress verifier enforces, or undefined when none are configured. */
export function configuredRoots(own: readonly RootRule[] | undefined): readonly RootRule[] | undefined {
  if (own === undefined) return getRootRules(); // the deployment's and configure()'s
  const deployment = getDeployment().roots;
  return deployment ? [...deployment, ...own] : own;
}

/** The rules an ingress verifier is built with: the configured ones, else UNGUARDED_ROOTS. */
export function ingressRoots(own: readonly RootRule[] | undefined): readonly RootRule[] {
  return configuredRoots(own) ?? UNGUARDED_ROOTS;
}

/**
 * At adapter start: warn once when no roots are configured. A deployment file that cannot be read
 * is not reported here: the first request that needs it refuses with that error.
 */
export function warnIfOriginsUnguarded(
  own: readonly RootRule[] | undefined,
  logger: KestLogger | undefined,
): void {
  let configured: boolean;
  try {
    configured = configuredRoots(own) !== undefined;
  } catch {
    return;
  }
  if (configured) return;
  (logger ?? getConfiguration().logger).warn(
    { max_root_trust: UNKNOWN_ORIGIN_TRUST },
    `kest: origins are unguarded: no roots configured, so received lineages are admitted only when their root claims no more than unknown-origin trust (${UNKNOWN_ORIGIN_TRUST}); list who may start a lineage in \`roots\` (adapter option, configure() or the deployment file)`,
  );
}
