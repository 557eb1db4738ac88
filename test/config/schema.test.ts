/** The schemas themselves, and the "did you mean" that unknown keys get. */
import { describe, expect, it } from 'vitest';
import { newAjv, SCHEMAS } from '../../src/config/schema.js';
import { editDistance, nearestKey } from '../../src/suggest.js';

describe('the configuration schemas', () => {
  it('are valid JSON Schema (draft-07 meta-schema, Ajv strict mode)', () => {
    const ajv = newAjv(true);
    for (const schema of Object.values(SCHEMAS)) {
      expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
      expect(() => ajv.compile(schema)).not.toThrow();
    }
  });
});

describe('nearestKey', () => {
  const keys = ['enterprise_policies', 'platform_policies', 'application_policies', 'roots', 'sanitizers'];

  it('counts a swap of two adjacent letters as one edit (Damerau)', () => {
    expect(editDistance('rotos', 'roots')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearestKey('rotos', keys)).toBe('roots');
  });

  it('ignores case, _ and -; finds a key that holds the typed letters in order', () => {
    expect(nearestKey('EnterprisePolicy', keys)).toBe('enterprise_policies');
    expect(nearestKey('maxTrust', ['principal', 'max_source_trust'])).toBe('max_source_trust');
    expect(nearestKey('sanitiser', keys)).toBe('sanitizers');
  });

  it('suggests nothing for a key that is nothing like any', () => {
    expect(nearestKey('color', keys)).toBeUndefined();
    expect(nearestKey('', keys)).toBeUndefined();
  });
});
