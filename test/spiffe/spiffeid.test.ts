import { describe, expect, it } from 'vitest';
import { isSpiffeId, KestSpiffeError, SpiffeId, TrustDomain } from '../../src/spiffe/index.js';

// SPIFFE ID standard §2: scheme, trust domain and path rules.
const VALID: [string, string, string][] = [
  ['spiffe://example.org', 'example.org', ''],
  ['spiffe://example.org/workload', 'example.org', '/workload'],
  ['spiffe://example.org/ns/prod/sa/api', 'example.org', '/ns/prod/sa/api'],
  ['spiffe://a-b_c.d/x', 'a-b_c.d', '/x'],
  ['spiffe://1.2.3.4/x', '1.2.3.4', '/x'],
  ['spiffe://example.org/UPPER.lower-_0', 'example.org', '/UPPER.lower-_0'],
  ['spiffe://example.org/...', 'example.org', '/...'],
  ['spiffe://example.org/.a/a.', 'example.org', '/.a/a.'],
];

const INVALID: [string, string][] = [
  ['', 'empty'],
  ['example.org/x', 'no scheme'],
  ['SPIFFE://example.org/x', 'upper-case scheme'],
  ['https://example.org/x', 'other scheme'],
  ['spiffe:/example.org/x', 'scheme without //'],
  ['spiffe://', 'empty trust domain'],
  ['spiffe:///x', 'empty trust domain with path'],
  ['spiffe://Example.org/x', 'upper-case trust domain'],
  ['spiffe://example.org:8080/x', 'port'],
  ['spiffe://user@example.org/x', 'userinfo'],
  ['spiffe://exa%6Dple.org/x', 'percent-encoded trust domain'],
  ['spiffe://example.org/', 'trailing slash'],
  ['spiffe://example.org/x/', 'trailing slash after a segment'],
  ['spiffe://example.org//x', 'empty segment'],
  ['spiffe://example.org/./x', 'dot segment'],
  ['spiffe://example.org/x/..', 'dot-dot segment'],
  ['spiffe://example.org/x?y=1', 'query'],
  ['spiffe://example.org/x#frag', 'fragment'],
  ['spiffe://example.org/x%20y', 'percent-encoding in path'],
  ['spiffe://example.org/x y', 'space in path'],
  ['spiffe://example.org/ünïcode', 'non-ASCII path'],
  ['spiffe://exam ple.org/x', 'space in trust domain'],
  [`spiffe://${'a'.repeat(256)}/x`, 'trust domain over 255'],
  [`spiffe://example.org/${'a'.repeat(2048)}`, 'ID over 2048 bytes'],
];

describe('SpiffeId (SPIFFE ID standard)', () => {
  it.each(VALID)('accepts %s', (input, td, path) => {
    const id = SpiffeId.parse(input);
    expect(id.trustDomain.name).toBe(td);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(input);
    expect(isSpiffeId(input)).toBe(true);
  });

  it.each(INVALID)('rejects %s (%s)', (input) => {
    expect(() => SpiffeId.parse(input)).toThrow(KestSpiffeError);
    expect(isSpiffeId(input)).toBe(false);
    try {
      SpiffeId.parse(input);
    } catch (err) {
      expect((err as KestSpiffeError).code).toBe('ERR_SPIFFE');
      expect((err as KestSpiffeError).reason).toBe('invalid_spiffe_id');
    }
  });

  it('accepts an ID of exactly 2048 bytes and a trust domain of exactly 255', () => {
    const prefix = 'spiffe://example.org/';
    expect(SpiffeId.parse(prefix + 'a'.repeat(2048 - prefix.length)).toString()).toHaveLength(2048);
    expect(TrustDomain.parse('a'.repeat(255)).name).toHaveLength(255);
  });

  it('builds IDs from segments and checks membership', () => {
    const id = SpiffeId.fromSegments('example.org', 'ns', 'prod');
    expect(id.toString()).toBe('spiffe://example.org/ns/prod');
    expect(id.memberOf(TrustDomain.parse('example.org'))).toBe(true);
    expect(id.memberOf(TrustDomain.parse('other.org'))).toBe(false);
    expect(() => SpiffeId.fromSegments('example.org', 'a/b')).toThrow(KestSpiffeError);
    expect(() => SpiffeId.fromSegments('example.org', '')).toThrow(KestSpiffeError);
    expect(() => SpiffeId.fromSegments('example.org', '..')).toThrow(KestSpiffeError);
  });
});

describe('TrustDomain', () => {
  it.each([
    ['example.org', 'example.org'],
    ['spiffe://example.org', 'example.org'],
    ['a_b-c.d', 'a_b-c.d'],
  ])('parses %s', (input, name) => {
    const td = TrustDomain.parse(input);
    expect(td.name).toBe(name);
    expect(td.idString()).toBe(`spiffe://${name}`);
  });

  it.each([
    ['', 'empty'],
    ['Example.org', 'upper case'],
    ['example.org:443', 'port'],
    ['user@example.org', 'userinfo'],
    ['spiffe://example.org/workload', 'a workload ID'],
    ['example.org/x', 'a path'],
    ['https://example.org', 'other scheme'],
  ])('rejects %s (%s)', (input) => {
    expect(() => TrustDomain.parse(input)).toThrow(KestSpiffeError);
  });
});
