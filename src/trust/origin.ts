/** The origin map of docs/spec.md §4: root trust by `kest.source_type`. Defaults cannot be changed. */

export const ORIGIN_TRUST_MAP: Readonly<Record<string, number>> = Object.freeze({
  system: 100,
  internal: 100,
  verified_rag: 90,
  third_party_api: 60,
  user_input: 40,
  internet: 10,
  llm: 0,
});

/** Trust of an origin the map does not know, at a root or as a hop's own score. */
export const UNKNOWN_ORIGIN_TRUST = 10;
/** A non-root hop that declares no source_type scores itself 100 (it only inherits its parents). */
export const DEFAULT_SELF_TRUST = 100;

/**
 * The default origins plus a deployment's additions. Adding is allowed, changing a default is not:
 * a deployment must not be able to relabel `internet` as trustworthy.
 */
export function extendOriginMap(additions: Record<string, number>): Readonly<Record<string, number>> {
  const out: Record<string, number> = { ...ORIGIN_TRUST_MAP };
  for (const [origin, score] of Object.entries(additions)) {
    if (origin in ORIGIN_TRUST_MAP && ORIGIN_TRUST_MAP[origin] !== score) {
      throw new Error(`origin "${origin}" is a default (${ORIGIN_TRUST_MAP[origin]}) and cannot be changed`);
    }
    if (!Number.isInteger(score) || score < 0 || score > 100) {
      throw new Error(`origin "${origin}": trust must be an integer 0..100`);
    }
    out[origin] = score;
  }
  return Object.freeze(out);
}
