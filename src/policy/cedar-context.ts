import { KestPolicyEngineError } from '../errors.js';
import type { EvaluationContext } from './types.js';

/**
 * Which form of the evaluation context a Cedar engine receives:
 * - `structured`: `context.subject.trust_score`, `context.subject.taints.contains("pii")`;
 * - `flat`: the dotted keys of docs/spec.md §6, `context["subject.trust_score"]`;
 * - `both` (default): the union, so policies written either way run unchanged.
 */
export type CedarContextShape = 'structured' | 'flat' | 'both';

/** A JSON value Cedar accepts: no null, integers only (Cedar `Long`). */
export type CedarValue = string | number | boolean | CedarValue[] | { [key: string]: CedarValue };

/**
 * Converts an evaluation context to a Cedar context record. Cedar has no null, so a null or
 * undefined attribute is left out (policies test it with `has`); arrays become sets. A value Cedar
 * cannot hold (a non-integer or unsafe number, a function, ...) throws rather than being dropped: a
 * silently missing attribute could keep a `forbid` from firing.
 *
 * `only` restricts the result to those top-level keys (plain or dotted): CedarLocalEngine passes
 * the keys its policies read, since handing values to the Wasm module is most of a decision's cost.
 */
export function toCedarContext(
  context: EvaluationContext,
  shape: CedarContextShape = 'both',
  only?: ReadonlySet<string>,
): Record<string, CedarValue> {
  const source = context as unknown as Record<string, unknown>;
  const out: Record<string, CedarValue> = {};
  if (shape !== 'structured' && (only === undefined || hasDottedKey(only) || shape === 'flat')) {
    const full = toCedarRecord(source, 'context');
    for (const [key, value] of Object.entries(flattenContext(full))) {
      if (value !== undefined && (only === undefined || only.has(key))) out[key] = value as CedarValue;
    }
    if (shape === 'flat') return out;
  }
  // Structured keys carry no dots, flattened ones do (but trust_score, a leaf, is in both with the
  // same value), so the union never collides.
  for (const key of only ?? Object.keys(source)) {
    if (key.includes('.') || !Object.hasOwn(source, key)) continue;
    const value = toCedarValue(source[key], `context.${key}`);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function hasDottedKey(keys: ReadonlySet<string>): boolean {
  for (const key of keys) if (key.includes('.')) return true;
  return false;
}

function toCedarRecord(value: Record<string, unknown>, path: string): Record<string, CedarValue> {
  const out: Record<string, CedarValue> = {};
  for (const [key, v] of Object.entries(value)) {
    const converted = toCedarValue(v, `${path}.${key}`);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

function toCedarValue(value: unknown, path: string): CedarValue | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new KestPolicyEngineError(
          `${path}: ${value} is not an integer Cedar can hold (Cedar has no floats; use integers)`,
          'engine_error',
        );
      }
      return value;
    case 'object': {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        const items: CedarValue[] = [];
        value.forEach((item, i) => {
          const converted = toCedarValue(item, `${path}[${i}]`);
          if (converted === undefined) {
            throw new KestPolicyEngineError(
              `${path}[${i}]: null is not allowed in a Cedar set`,
              'engine_error',
            );
          }
          items.push(converted);
        });
        return items;
      }
      return toCedarRecord(value as Record<string, unknown>, path);
    }
    default:
      throw new KestPolicyEngineError(`${path}: a ${typeof value} cannot be passed to Cedar`, 'engine_error');
  }
}

/**
 * Cedar gets the context flattened with dotted keys (docs/spec.md §6):
 * {subject:{trust_score:5}} → {"subject.trust_score":5}. Arrays and empty objects are leaves.
 */
function flattenContext(value: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}) {
  for (const [key, v] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      flattenContext(v as Record<string, unknown>, path, out);
    } else {
      out[path] = v;
    }
  }
  return out;
}
