/**
 * Loading what an auditor points `kest audit` and `kest viz` at: the trust source (--jwks files or
 * a --bundle of SPIFFE bundles) and the sanitizer rules (--sanitizers). Errors name the flags.
 */
import { parse as parseYaml } from 'yaml';
import { readFileBounded } from '../entry/index.js';
import {
  JwksTrustSource,
  KestConfigurationError,
  parseDeploymentConfig,
  type RootRule,
  SanitizerPolicy,
  type TrustSource,
} from '../index.js';
import { importSpiffe } from './optional.js';

export interface TrustFiles {
  /** JWKS files (keys anchored per principal). */
  jwks?: readonly string[] | string | undefined;
  /** A SPIFFE bundle file: a federated map {"<trust domain>": bundle}, or one bundle with trustDomain. */
  bundle?: string | undefined;
  trustDomain?: string | undefined;
}

/** A trust source from files; throws KestConfigurationError on a bad or missing choice. */
export async function loadTrustSource(files: TrustFiles): Promise<TrustSource> {
  const jwks = typeof files.jwks === 'string' ? [files.jwks] : [...(files.jwks ?? [])];
  if (jwks.length > 0 && files.bundle) throw new KestConfigurationError('give --jwks or --bundle, not both');
  if (jwks.length > 0) return JwksTrustSource.fromFile(...jwks);
  if (files.bundle) return loadBundle(files.bundle, files.trustDomain);
  throw new KestConfigurationError('a trust source is required: --jwks FILE or --bundle FILE');
}

async function loadBundle(bundle: string, trustDomain: string | undefined): Promise<TrustSource> {
  const mod = await importSpiffe('--bundle (SPIFFE trust bundles) needs');
  if (!trustDomain) requireFederatedMap(bundle);
  // An audit reads old traces: each SVID is checked at its entry's signing time, not now.
  try {
    return trustDomain
      ? mod.SpiffeTrustSource.fromBundleFile(trustDomain, bundle, { svidValidity: 'signing-time' })
      : mod.SpiffeTrustSource.fromFederatedFile(bundle, { svidValidity: 'signing-time' });
  } catch (err) {
    throw new KestConfigurationError(`cannot load bundle ${bundle}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Without --trust-domain the bundle must be a {"trust domain": bundle} map; a single bundle (JSON
 * with "keys", PEM or DER) needs --trust-domain, and the error says so.
 */
function requireFederatedMap(bundle: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileBounded(bundle));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EFBIG' || e.code === 'EISDIR' || e.code === 'EACCES') {
      throw new KestConfigurationError(`cannot read bundle ${bundle}: ${e.message}`, { cause: err });
    }
    throw new KestConfigurationError(
      `${bundle} is not a JSON map of trust domains: for a single bundle (PEM, DER or JSON) give --trust-domain TD`,
    );
  }
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'keys' in doc) {
    throw new KestConfigurationError(
      `${bundle} is a single SPIFFE bundle: give --trust-domain TD (or a {"trust domain": bundle} map)`,
    );
  }
}

/** Sanitizer rules from JSON or YAML: {"sanitizers":[{"principal","may_remove","max_trust"}]}. */
export function loadSanitizers(path: string): SanitizerPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(readFileBounded(path));
  } catch (err) {
    throw new KestConfigurationError(`cannot read sanitizers ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // Checked by the deployment file's schema, like --roots: an unknown key names the nearest valid one.
  const file = Array.isArray(doc) ? { sanitizers: doc } : doc;
  return new SanitizerPolicy([...parseDeploymentConfig(file, path).sanitizers]);
}

/**
 * Root rules (--roots) from JSON or YAML: {"roots":[{"principal","max_source_trust"}]}, the shape of
 * the deployment file's key (a deployment file itself is accepted). A file without roots is an error.
 */
export function loadRoots(path: string): readonly RootRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileBounded(path));
  } catch (err) {
    throw new KestConfigurationError(`cannot read roots ${path}: ${(err as Error).message}`, { cause: err });
  }
  const roots = parseDeploymentConfig(doc, path).roots;
  if (!roots) throw new KestConfigurationError(`${path}: no "roots" list (who may start a lineage)`);
  return roots;
}

/** What `kest verify` / `kest audit` print when no --roots were given: root origins not vouched for. */
export const SELF_ASSERTED_NOTE =
  "note: origins self-asserted: no --roots given, so no root entry's origin (source_type, trust) was checked";
