import { describe, expect, it } from 'vitest';
import { KestPolicyEngineError } from '../../src/errors.js';
import { toCedarContext } from '../../src/policy/index.js';
import { makeContext } from './fixtures.js';

describe('toCedarContext', () => {
  it('flat: the dotted keys of docs/spec.md §6, nulls left out', () => {
    const flat = toCedarContext(
      makeContext({ user: null, attributes: { region: 'eu', nested: { n: 1 } } }),
      'flat',
    );
    expect(flat['subject.trust_score']).toBe(100);
    expect(flat['object.attributes.region']).toBe('eu');
    expect(flat['object.attributes.nested.n']).toBe(1);
    expect(flat.trust_score).toBe(100);
    expect('subject.user' in flat).toBe(false);
    expect('identity.agent' in flat).toBe(false);
    expect(flat.subject).toBeUndefined();
  });

  it('structured and both', () => {
    const ctx = makeContext({ taints: ['pii'] });
    const structured = toCedarContext(ctx, 'structured');
    expect(structured.subject).toMatchObject({ taints: ['pii'], trust_score: 100 });
    expect('subject.taints' in structured).toBe(false);
    const both = toCedarContext(ctx);
    expect(both.subject).toEqual(structured.subject);
    expect(both['subject.taints']).toEqual(['pii']);
  });

  it('refuses values Cedar cannot hold instead of dropping them', () => {
    expect(() => toCedarContext(makeContext({ attributes: { x: 0.5 } }))).toThrow(KestPolicyEngineError);
    expect(() => toCedarContext(makeContext({ attributes: { x: 2 ** 60 } }))).toThrow(/integer/);
    expect(() => toCedarContext(makeContext({ attributes: { x: [1, null] } }))).toThrow(/null/);
    expect(() => toCedarContext(makeContext({ attributes: { x: () => 1 } }))).toThrow(/function/);
  });
});
