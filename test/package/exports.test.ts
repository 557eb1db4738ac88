/**
 * Every subpath export of package.json points at a module that exists and exports the public API
 * the README documents for it (checked on the sources the build compiles one-to-one into dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
};

const expected: Record<string, string[]> = {
  '.': [
    'kestVerified',
    'verified',
    'configure',
    'Passport',
    'PassportVerifier',
    'JwksTrustSource',
    'LocalEd25519Provider',
    'FileIdentityProvider',
    'getCurrentUser',
    'KestVerificationError',
    'DefaultTrustEvaluator',
    'UNGUARDED_ROOTS',
  ],
  './wire': [
    'canonicalize',
    'signJws',
    'parseJws',
    'sha256Hex',
    'buildEntry',
    'signEntry',
    'parseSignedEntry',
    'escapeTerminal',
    'escapeJsonForTerminal',
    'readFileBounded',
  ],
  './testing': ['MockIdentityProvider', 'MockPolicyEngine'],
  './spiffe': [
    'SPIREProvider',
    'SpiffeTrustSource',
    'X509Source',
    'SpiffeId',
    'DevAgent',
    'AutoDetector',
    'OIDCIdentity',
  ],
  './spiffe/id': ['SpiffeId', 'TrustDomain', 'isSpiffeId'],
  './spiffe/undici': ['spiffeUndiciAgent', 'spiffeConnector'],
  './policy': ['OPAPolicyEngine', 'CedarAgentEngine', 'CedarPolicyEngine', 'TieredPolicyEngine'],
  './cedar': ['CedarLocalEngine'],
  './propagation': [
    'BaggageManager',
    'MemoryCacheProvider',
    'parseBaggage',
    'serializeBaggage',
    'readReferenceBaggage',
  ],
  './redis': ['RedisCacheProvider', 'RedisReplayStore'],
  './http': [
    'KestHttpCore',
    'refusalFor',
    'statusFor',
    'BearerIdentityValidator',
    'KestBearerTokenError',
    'KestIngressRefusal',
    'KestMissingPassportError',
    'MemoryReplayStore',
    'signHandoff',
    'verifyHandoff',
  ],
  './express': ['kestExpress'],
  './fastify': ['kestFastify'],
  './hono': ['kestHono'],
  './node': ['kestNode'],
  './fetch': ['kestFetch', 'kestInterceptor'],
  './axios': ['installKestAxios'],
  './telemetry': ['KestTelemetry'],
  './audit': [
    'auditFile',
    'auditSpans',
    'renderHtml',
    'OtlpGrpcReceiver',
    'OtlpHttpReceiver',
    'spansFromOtlpProto',
  ],
};

function sourceOf(target: string): string {
  return target.replace(/^\.\/dist\//, '../../src/').replace(/\.js$/, '.ts');
}

describe('package exports', () => {
  it('lists exactly the documented subpaths', () => {
    expect(
      Object.keys(pkg.exports)
        .filter((k) => k !== './package.json')
        .sort(),
    ).toEqual(Object.keys(expected).sort());
  });

  for (const [subpath, names] of Object.entries(expected)) {
    it(`${subpath} exports ${names.join(', ')}`, async () => {
      const entry = pkg.exports[subpath] as { types: string; default: string };
      expect(entry.types).toBe(entry.default.replace(/\.js$/, '.d.ts'));
      const src = new URL(sourceOf(entry.default), import.meta.url);
      expect(existsSync(src)).toBe(true);
      const mod = (await import(src.href)) as Record<string, unknown>;
      for (const name of names) expect(mod[name], `${subpath} → ${name}`).toBeDefined();
    });
  }

  /** Internals and building blocks stay off the application surface (issue 17). */
  const notPublic: Record<string, string[]> = {
    '.': [
      'signWithEncodedHeader',
      'encodeHeader',
      'sortedUnique',
      'flattenContext',
      'getActiveIdentity',
      'getActiveEngine',
      'getActiveTrust',
      'getActiveCache',
      'canonicalize',
      'signJws',
      'buildEntry',
      'MockIdentityProvider',
      'MockPolicyEngine',
    ],
    './wire': ['signWithEncodedHeader', 'encodeHeader', 'sortedUnique'],
    './policy': ['MockPolicyEngine', 'flattenContext'],
  };
  for (const [subpath, names] of Object.entries(notPublic)) {
    it(`${subpath} does not export ${names.join(', ')}`, async () => {
      const entry = pkg.exports[subpath] as { default: string };
      const mod = (await import(new URL(sourceOf(entry.default), import.meta.url).href)) as Record<
        string,
        unknown
      >;
      for (const name of names) expect(mod[name], `${subpath} → ${name}`).toBeUndefined();
    });
  }

  it('the deprecated CedarPolicyEngine is CedarAgentEngine', async () => {
    const policy = await import('../../src/policy/index.js');
    expect(policy.CedarPolicyEngine).toBe(policy.CedarAgentEngine);
  });

  it('the kest bin is the CLI entry', () => {
    expect(existsSync(new URL(sourceOf(pkg.bin.kest as string), import.meta.url))).toBe(true);
  });
});
