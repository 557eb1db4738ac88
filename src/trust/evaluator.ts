import { KestConfigurationError } from '../errors.js';
import { DEFAULT_SELF_TRUST, extendOriginMap, ORIGIN_TRUST_MAP, UNKNOWN_ORIGIN_TRUST } from './origin.js';

export interface TrustInput {
  /** Scores of the verified parents; empty at a root. */
  parentScores: readonly number[];
  /** labels["kest.source_type"] of the hop, if any. */
  sourceType?: string | undefined;
}

/**
 * Computes a hop's trust score from its parents. Signer and verifier must use the same evaluator:
 * the verifier recomputes every score (docs/spec.md §2 check 4).
 */
export interface TrustEvaluator {
  evaluate(input: TrustInput): number;
}

export function clampTrust(value: number): number {
  return Math.max(0, Math.min(100, Math.trunc(value)));
}

/**
 * docs/spec.md §4: root = origin map value (unknown 10); non-root =
 * floor(min(parents) * self / 100) in integer arithmetic, self = origin value (absent: 100).
 */
export class DefaultTrustEvaluator implements TrustEvaluator {
  readonly origins: Readonly<Record<string, number>>;
  constructor(options: { additionalOrigins?: Record<string, number> } = {}) {
    try {
      this.origins = options.additionalOrigins
        ? extendOriginMap(options.additionalOrigins)
        : ORIGIN_TRUST_MAP;
    } catch (err) {
      throw new KestConfigurationError((err as Error).message, { cause: err });
    }
  }

  originScore(sourceType: string | undefined, isRoot: boolean): number {
    if (sourceType === undefined) return isRoot ? UNKNOWN_ORIGIN_TRUST : DEFAULT_SELF_TRUST;
    return Object.hasOwn(this.origins, sourceType)
      ? (this.origins[sourceType] as number)
      : UNKNOWN_ORIGIN_TRUST;
  }

  evaluate({ parentScores, sourceType }: TrustInput): number {
    if (parentScores.length === 0) return this.originScore(sourceType, true);
    let min = 100;
    for (const s of parentScores) if (s < min) min = s;
    return Math.floor((min * this.originScore(sourceType, false)) / 100);
  }
}

/**
 * An example of a custom evaluator: the hop's own origin weighs `selfWeight` against the mean of its
 * parents (instead of the weakest parent). Deployments that use it must configure it on every signer
 * and verifier alike.
 */
export class WeightedTrustEvaluator implements TrustEvaluator {
  private readonly base: DefaultTrustEvaluator;
  constructor(
    private readonly selfWeight = 0.5,
    options: { additionalOrigins?: Record<string, number> } = {},
  ) {
    if (!(selfWeight >= 0 && selfWeight <= 1))
      throw new KestConfigurationError('selfWeight must be within 0..1');
    this.base = new DefaultTrustEvaluator(options);
  }

  evaluate({ parentScores, sourceType }: TrustInput): number {
    if (parentScores.length === 0) return this.base.originScore(sourceType, true);
    const mean = parentScores.reduce((a, b) => a + b, 0) / parentScores.length;
    const self = this.base.originScore(sourceType, false);
    return clampTrust(Math.floor(mean * (1 - this.selfWeight) + self * this.selfWeight));
  }
}
