import { FAILED_EXECUTION_TAINT } from '../wire/constants.js';
import { clampTrust, type TrustEvaluator } from './evaluator.js';

/**
 * The one rule for a hop's trust score, used by the hook when it signs and by the verifier when it
 * recomputes: a failed execution scores 0; an override (a sanitizer's, checked by the verifier) sets
 * the score; otherwise the evaluator decides from the parents and the hop's origin.
 */
export function hopTrust(
  evaluator: TrustEvaluator,
  input: {
    parentScores: readonly number[];
    sourceType?: string | undefined;
    override?: number | undefined;
    addedTaints?: readonly string[];
  },
): number {
  if (input.addedTaints?.includes(FAILED_EXECUTION_TAINT)) return 0;
  if (input.override !== undefined) return clampTrust(input.override);
  return evaluator.evaluate({ parentScores: input.parentScores, sourceType: input.sourceType });
}

/** Parse labels["kest.trust_override"]: a decimal integer string, else undefined (invalid → NaN). */
export function parseTrustOverride(label: string | undefined): number | undefined {
  if (label === undefined) return undefined;
  return /^-?\d{1,4}$/.test(label) ? Number(label) : Number.NaN;
}
