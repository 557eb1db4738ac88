/**
 * Strict validation of an entry payload: every field of docs/spec.md §1 present, well typed, in range
 * and bounded. Unknown top-level fields are refused (they would be signed but unexplained).
 */
import { KestEntryError } from '../errors.js';
import { CLASSIFICATIONS, LIMITS, ROOT_PARENT, SCHEMA_VERSION } from '../wire/constants.js';
import { isSha256Hex } from '../wire/hash.js';
import { isUuidV7 } from '../wire/uuid.js';
import { ENTRY_FIELDS, type KestEntryPayload } from './types.js';

const FIELD_SET = new Set<string>(ENTRY_FIELDS);
const MAX_JSON_DEPTH = 32;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(field: string, message: string): never {
  throw new KestEntryError(`${field}: ${message}`, field);
}

function stringArray(v: unknown, field: string, max: number, maxLen: number): string[] {
  if (!Array.isArray(v)) fail(field, 'must be an array of strings');
  if (v.length > max) fail(field, `at most ${max} items`);
  for (const s of v) {
    if (typeof s !== 'string' || s.length === 0 || s.length > maxLen) {
      fail(field, `items must be non-empty strings of at most ${maxLen} characters`);
    }
  }
  if (new Set(v).size !== v.length) fail(field, 'duplicate items');
  return v as string[];
}

function checkDepth(v: unknown, field: string, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) fail(field, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(v)) for (const x of v) checkDepth(x, field, depth + 1);
  else if (isPlainObject(v)) for (const x of Object.values(v)) checkDepth(x, field, depth + 1);
}

function hashOrEmpty(v: unknown, field: string): void {
  if (typeof v !== 'string' || (v !== '' && !isSha256Hex(v)))
    fail(field, 'must be "" or 64 lowercase hex characters');
}

/** Validate a decoded payload object; returns it typed. Throws KestEntryError naming the field. */
export function validateEntryPayload(value: unknown): KestEntryPayload {
  if (!isPlainObject(value)) throw new KestEntryError('entry payload is not a JSON object');
  for (const key of Object.keys(value)) if (!FIELD_SET.has(key)) fail(key, 'unknown field');
  for (const key of ENTRY_FIELDS) if (!(key in value)) fail(key, 'missing');
  const e = value as unknown as KestEntryPayload;

  checkScalars(e);
  checkParents(e);
  checkTaints(e);
  checkLabels(e);
  checkPolicyContext(e);
  checkOpaque(e);
  return e;
}

/** schema_version, runtime, entry_id, operation, classification, trust_score. */
function checkScalars(e: KestEntryPayload): void {
  if (e.schema_version !== SCHEMA_VERSION) fail('schema_version', `must be "${SCHEMA_VERSION}"`);
  const rt = e.runtime as unknown;
  if (
    !isPlainObject(rt) ||
    Object.keys(rt).length !== 2 ||
    typeof rt.name !== 'string' ||
    rt.name.length === 0 ||
    rt.name.length > 64 ||
    typeof rt.version !== 'string' ||
    rt.version.length > 64
  ) {
    fail('runtime', 'must be {name, version} strings');
  }
  if (typeof e.entry_id !== 'string' || !isUuidV7(e.entry_id))
    fail('entry_id', 'must be a lowercase UUID v7');
  if (
    typeof e.operation !== 'string' ||
    e.operation.length === 0 ||
    e.operation.length > LIMITS.maxOperationLength
  ) {
    fail('operation', `must be a non-empty string of at most ${LIMITS.maxOperationLength} characters`);
  }
  if (!(CLASSIFICATIONS as readonly unknown[]).includes(e.classification)) {
    fail('classification', `must be one of ${CLASSIFICATIONS.join(', ')}`);
  }
  if (!Number.isInteger(e.trust_score) || e.trust_score < 0 || e.trust_score > 100) {
    fail('trust_score', 'must be an integer 0..100');
  }
}

/** parent_ids: ["0"] at a root, else distinct entry hashes. */
function checkParents(e: KestEntryPayload): void {
  const parents = e.parent_ids as unknown;
  if (!Array.isArray(parents) || parents.length === 0 || parents.length > LIMITS.maxParents) {
    fail('parent_ids', `must be a non-empty array of at most ${LIMITS.maxParents} items`);
  }
  if (parents.length === 1 && parents[0] === ROOT_PARENT) {
    // root
  } else {
    for (const p of parents) {
      if (typeof p !== 'string' || !isSha256Hex(p))
        fail('parent_ids', 'items must be 64 lowercase hex (or ["0"] at a root)');
    }
    if (new Set(parents).size !== parents.length) fail('parent_ids', 'duplicate parent');
  }
}

/** The taint lists; `taints` sorted (the signed form is canonical). */
function checkTaints(e: KestEntryPayload): void {
  stringArray(e.added_taints, 'added_taints', LIMITS.maxTaints, LIMITS.maxTaintLength);
  stringArray(e.removed_taints, 'removed_taints', LIMITS.maxTaints, LIMITS.maxTaintLength);
  const taints = stringArray(e.taints, 'taints', LIMITS.maxTaints, LIMITS.maxTaintLength);
  for (let i = 1; i < taints.length; i++) {
    if ((taints[i - 1] as string) >= (taints[i] as string)) fail('taints', 'must be sorted');
  }
}

/** labels: bounded string map holding at least principal and trace_id. */
function checkLabels(e: KestEntryPayload): void {
  const labels = e.labels as unknown;
  if (!isPlainObject(labels)) fail('labels', 'must be an object');
  const labelKeys = Object.keys(labels);
  if (labelKeys.length > LIMITS.maxLabels) fail('labels', `at most ${LIMITS.maxLabels} labels`);
  for (const k of labelKeys) {
    const v = labels[k];
    if (k.length === 0 || k.length > LIMITS.maxLabelKeyLength)
      fail('labels', 'label keys must be 1..256 characters');
    if (typeof v !== 'string' || v.length > LIMITS.maxLabelValueLength) {
      fail(`labels.${k}`, `must be a string of at most ${LIMITS.maxLabelValueLength} characters`);
    }
  }
  if (typeof labels.principal !== 'string' || labels.principal.length === 0)
    fail('labels.principal', 'missing');
  if (typeof labels.trace_id !== 'string') fail('labels.trace_id', 'missing');
}

/** policy_context: the four tier lists and the deviations. */
function checkPolicyContext(e: KestEntryPayload): void {
  const pc = e.policy_context as unknown;
  if (!isPlainObject(pc)) fail('policy_context', 'must be an object');
  for (const k of Object.keys(pc)) {
    if (
      ![
        'enterprise_policies',
        'platform_policies',
        'app_policies',
        'function_policies',
        'deviations',
      ].includes(k)
    ) {
      fail(`policy_context.${k}`, 'unknown field');
    }
  }
  for (const k of [
    'enterprise_policies',
    'platform_policies',
    'app_policies',
    'function_policies',
  ] as const) {
    stringArray(pc[k], `policy_context.${k}`, LIMITS.maxPolicies, 256);
  }
  const devs = pc.deviations;
  if (!Array.isArray(devs) || devs.length > LIMITS.maxPolicies)
    fail('policy_context.deviations', 'must be an array');
  for (const d of devs) {
    if (
      !isPlainObject(d) ||
      Object.keys(d).length !== 4 ||
      !['policy', 'tier', 'reason', 'approver'].every((k) => typeof d[k] === 'string')
    ) {
      fail('policy_context.deviations', 'items must be {policy, tier, reason, approver} strings');
    }
  }
}

/** Free-form JSON fields (bounded depth), hashes and the timestamp. */
function checkOpaque(e: KestEntryPayload): void {
  if (!isPlainObject(e.environment)) fail('environment', 'must be an object');
  if (!isPlainObject(e.otel_context)) fail('otel_context', 'must be an object');
  checkDepth(e.environment, 'environment');
  checkDepth(e.otel_context, 'otel_context');
  if (e.metadata === undefined) fail('metadata', 'missing');
  checkDepth(e.metadata, 'metadata');
  hashOrEmpty(e.content_hash, 'content_hash');
  hashOrEmpty(e.input_hash, 'input_hash');
  if (!Number.isSafeInteger(e.timestamp_ms) || e.timestamp_ms < 0)
    fail('timestamp_ms', 'must be a non-negative integer');
}

export function isRootEntry(e: Pick<KestEntryPayload, 'parent_ids'>): boolean {
  return e.parent_ids.length === 1 && e.parent_ids[0] === ROOT_PARENT;
}

/** Same strings in the same order (taints, parent_ids). */
export function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
