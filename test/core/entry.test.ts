/**
 * The entry schema (docs/spec.md §1): builder defaults and the strict validator, field by field.
 */
import { describe, expect, it } from 'vitest';
import {
  buildEntry,
  canonicalBytes,
  parseSignedEntry,
  sha256Hex,
  signEntry,
  validateEntryPayload,
} from '../../src/entry/index.js';
import { KestEntryError, type KestEntryPayload, PACKAGE_VERSION } from '../../src/index.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { isUuidV7, uuidv7 } from '../../src/wire/uuid.js';

const H = 'a'.repeat(64);

function valid(): KestEntryPayload {
  return buildEntry({
    operation: 'read_record',
    principal: 'spiffe://test.kest/svc',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    trustScore: 40,
    parentIds: [H],
    addedTaints: ['pii'],
    taints: ['unverified', 'pii'],
    labels: { 'kest.source_type': 'user_input' },
    policyContext: {
      app_policies: ['p1'],
      deviations: [{ policy: 'p', tier: 'app', reason: 'r', approver: 'a' }],
    },
    metadata: { nested: [1, { x: null }] },
    contentHash: sha256Hex('x'),
  });
}

function expectField(payload: unknown, field: string): void {
  try {
    validateEntryPayload(payload);
  } catch (err) {
    expect(err).toBeInstanceOf(KestEntryError);
    expect((err as KestEntryError).code).toBe('ERR_ENTRY_INVALID');
    expect((err as KestEntryError).field).toBe(field);
    return;
  }
  throw new Error(`accepted an invalid ${field}`);
}

describe('buildEntry', () => {
  it('fills every field with the spec defaults', () => {
    const e = buildEntry({ operation: 'op', principal: 'spiffe://a/b', trustScore: 100 });
    expect(e.schema_version).toBe('0.3.0');
    expect(e.runtime).toEqual({ name: 'kest-ts', version: PACKAGE_VERSION });
    expect(isUuidV7(e.entry_id)).toBe(true);
    expect(e.classification).toBe('system');
    expect(e.parent_ids).toEqual(['0']);
    expect(e.labels).toEqual({ principal: 'spiffe://a/b', trace_id: '' });
    expect(e.policy_context).toEqual({
      enterprise_policies: [],
      platform_policies: [],
      app_policies: [],
      function_policies: [],
      deviations: [],
    });
    expect(e.metadata).toBeNull();
    expect(e.content_hash).toBe('');
    expect(Number.isSafeInteger(e.timestamp_ms)).toBe(true);
    expect(validateEntryPayload(e)).toBe(e);
  });

  it('sorts and de-duplicates taints', () => {
    expect(valid().taints).toEqual(['pii', 'unverified']);
  });

  it('signEntry signs the RFC 8785 bytes; parseSignedEntry links by sha256 of the compact JWS', async () => {
    const id = new MockIdentityProvider();
    const e = valid();
    const jws = await signEntry(id, e);
    const parsed = parseSignedEntry(jws);
    expect(parsed.payload).toEqual(e);
    expect(parsed.hash).toBe(sha256Hex(jws));
    expect(parsed.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(jws.split('.')[1] as string, 'base64url').equals(canonicalBytes(e))).toBe(true);
    expect(parsed.header).toMatchObject({ alg: 'EdDSA', typ: 'JWS' });
  });
});

// Mutations write wrong types on purpose, so the payload is untyped here.
// biome-ignore lint/suspicious/noExplicitAny: deliberately ill-typed test payloads
type Loose = Record<string, any>;
type Mutation = [name: string, field: string, mutate: (e: Loose) => void];

const mutations: Mutation[] = [
  ['not an object', '', () => {}],
  ['unknown field', 'extra', (e) => (e.extra = 1)],
  ['schema_version 0.2.0', 'schema_version', (e) => (e.schema_version = '0.2.0')],
  ['runtime not an object', 'runtime', (e) => (e.runtime = 'kest-ts')],
  ['runtime without version', 'runtime', (e) => (e.runtime = { name: 'kest-ts' })],
  ['runtime with extra member', 'runtime', (e) => (e.runtime = { name: 'a', version: '1', x: 1 })],
  ['runtime name empty', 'runtime', (e) => (e.runtime = { name: '', version: '1' })],
  ['entry_id UUID v4', 'entry_id', (e) => (e.entry_id = '3b241101-e2bb-4255-8caf-4136c566a962')],
  ['entry_id uppercase v7', 'entry_id', (e) => (e.entry_id = (e.entry_id as string).toUpperCase())],
  ['entry_id not a string', 'entry_id', (e) => (e.entry_id = 7)],
  ['operation empty', 'operation', (e) => (e.operation = '')],
  ['operation too long', 'operation', (e) => (e.operation = 'x'.repeat(257))],
  ['operation not a string', 'operation', (e) => (e.operation = ['op'])],
  ['classification unknown', 'classification', (e) => (e.classification = 'admin')],
  ['trust_score 101', 'trust_score', (e) => (e.trust_score = 101)],
  ['trust_score -1', 'trust_score', (e) => (e.trust_score = -1)],
  ['trust_score 50.5', 'trust_score', (e) => (e.trust_score = 50.5)],
  ['trust_score string', 'trust_score', (e) => (e.trust_score = '50')],
  ['parent_ids empty', 'parent_ids', (e) => (e.parent_ids = [])],
  ['parent_ids not an array', 'parent_ids', (e) => (e.parent_ids = H)],
  ['parent_ids uppercase hex', 'parent_ids', (e) => (e.parent_ids = [H.toUpperCase()])],
  ['parent_ids short hash', 'parent_ids', (e) => (e.parent_ids = ['abc'])],
  ['parent_ids root sentinel among hashes', 'parent_ids', (e) => (e.parent_ids = ['0', H])],
  ['parent_ids duplicate', 'parent_ids', (e) => (e.parent_ids = [H, H])],
  [
    'parent_ids too many',
    'parent_ids',
    (e) => (e.parent_ids = Array.from({ length: 65 }, (_, i) => sha256Hex(`${i}`))),
  ],
  ['taints unsorted', 'taints', (e) => (e.taints = ['unverified', 'pii'])],
  ['taints duplicate', 'taints', (e) => (e.taints = ['pii', 'pii'])],
  ['taints non-string', 'taints', (e) => (e.taints = [1])],
  ['taints empty string', 'taints', (e) => (e.taints = [''])],
  [
    'taints too many',
    'taints',
    (e) => (e.taints = Array.from({ length: 65 }, (_, i) => `t${String(i).padStart(3, '0')}`)),
  ],
  ['added_taints not an array', 'added_taints', (e) => (e.added_taints = 'pii')],
  ['removed_taints with a number', 'removed_taints', (e) => (e.removed_taints = [3])],
  ['labels not an object', 'labels', (e) => (e.labels = [])],
  ['labels numeric value', 'labels.n', (e) => (e.labels.n = 1)],
  ['labels boolean value', 'labels.b', (e) => (e.labels.b = true)],
  ['labels null value', 'labels.z', (e) => (e.labels.z = null)],
  ['labels object value', 'labels.o', (e) => (e.labels.o = { a: 'b' })],
  ['labels without principal', 'labels.principal', (e) => delete e.labels.principal],
  ['labels empty principal', 'labels.principal', (e) => (e.labels.principal = '')],
  ['labels without trace_id', 'labels.trace_id', (e) => delete e.labels.trace_id],
  [
    'labels too many',
    'labels',
    (e) => Object.assign(e.labels, Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']))),
  ],
  ['label value too long', 'labels.big', (e) => (e.labels.big = 'x'.repeat(8193))],
  ['policy_context not an object', 'policy_context', (e) => (e.policy_context = null)],
  ['policy_context unknown member', 'policy_context.x', (e) => (e.policy_context.x = [])],
  [
    'policy_context missing array',
    'policy_context.platform_policies',
    (e) => delete e.policy_context.platform_policies,
  ],
  [
    'policy_context non-string policy',
    'policy_context.app_policies',
    (e) => (e.policy_context.app_policies = [1]),
  ],
  ['deviations not an array', 'policy_context.deviations', (e) => (e.policy_context.deviations = {})],
  [
    'deviation missing approver',
    'policy_context.deviations',
    (e) => (e.policy_context.deviations = [{ policy: 'p', tier: 't', reason: 'r' }]),
  ],
  ['environment array', 'environment', (e) => (e.environment = [])],
  ['otel_context string', 'otel_context', (e) => (e.otel_context = 'x')],
  [
    'metadata nested too deep',
    'metadata',
    (e) => (e.metadata = JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`)),
  ],
  ['content_hash short', 'content_hash', (e) => (e.content_hash = 'abc')],
  ['input_hash uppercase', 'input_hash', (e) => (e.input_hash = H.toUpperCase())],
  ['input_hash null', 'input_hash', (e) => (e.input_hash = null)],
  ['timestamp_ms negative', 'timestamp_ms', (e) => (e.timestamp_ms = -1)],
  ['timestamp_ms float', 'timestamp_ms', (e) => (e.timestamp_ms = 1.5)],
  ['timestamp_ms string', 'timestamp_ms', (e) => (e.timestamp_ms = '1700000000000')],
  ['timestamp_ms unsafe integer', 'timestamp_ms', (e) => (e.timestamp_ms = 2 ** 60)],
];

describe('validateEntryPayload: mutation table', () => {
  it('accepts the valid baseline (so each row below fails because of its mutation)', () => {
    expect(() => validateEntryPayload(valid())).not.toThrow();
  });

  it.each(mutations)('%s → field %s', (name, field, mutate) => {
    if (name === 'not an object') {
      for (const v of [null, [], 'x', 1]) expect(() => validateEntryPayload(v)).toThrow(KestEntryError);
      return;
    }
    const e = valid() as unknown as Loose;
    mutate(e);
    expectField(e, field);
  });

  it.each([...(Object.keys(valid()) as (keyof KestEntryPayload)[])])('missing %s → refused', (key) => {
    const e = valid() as unknown as Record<string, unknown>;
    delete e[key];
    expectField(e, key);
  });

  it('a root is exactly ["0"]; metadata may be any JSON including null', () => {
    const e = valid();
    e.parent_ids = ['0'];
    for (const m of [null, 0, 'x', [1], { a: { b: [] } }, false]) {
      e.metadata = m;
      expect(() => validateEntryPayload(e)).not.toThrow();
    }
  });

  it('parseSignedEntry refuses a signed payload that is not JSON or not an entry (typed)', () => {
    const id = new MockIdentityProvider();
    const bad = id.sign(Buffer.from('not json'));
    expect(() => parseSignedEntry(bad)).toThrow(KestEntryError);
    const v4 = valid() as unknown as Record<string, unknown>;
    v4.entry_id = '3b241101-e2bb-4255-8caf-4136c566a962';
    expect(() => parseSignedEntry(id.sign(canonicalBytes(v4)))).toThrow(/entry_id/);
  });
});

describe('uuidv7 (entry ids)', () => {
  it('ids made in one burst (many per millisecond) are valid v7, unique and strictly increasing', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    expect(ids.every(isUuidV7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] as string))).toBe(true);
    // The 48-bit time prefix is the clock's millisecond (not a counter run ahead).
    const ms = Number.parseInt(uuidv7().replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(5_000);
  });
});
