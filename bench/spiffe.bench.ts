import { Bench } from 'tinybench';
import { buildEntry } from '../src/entry/build.js';
import { LocalEd25519Provider } from '../src/identity/local.js';
import type { IdentityProvider } from '../src/identity/provider.js';
import { PassportVerifier } from '../src/passport/verifier.js';
import { DevCertificateAuthority, type X509SVID } from '../src/spiffe/index.js';
import { SPIREProvider } from '../src/spiffe/spire.js';
import { SpiffeTrustSource } from '../src/spiffe/trust-source.js';
import { canonicalBytes } from '../src/wire/canonical.js';
import { entryHash } from '../src/wire/hash.js';
import { parseJws } from '../src/wire/jws.js';
import { taskRow, writeResults } from './result.js';

const ca = DevCertificateAuthority.create({ trustDomain: 'example.org' });
const inter = ca.createIntermediate();
const fixed = (svid: X509SVID) => ({ getX509SVID: () => svid });
const svids = [ca.issue({ id: '/frontend' }), inter.issue({ id: '/orders' }), ca.issue({ id: '/payments' })];

function typicalEntry(principal: string, parent?: string, i = 0): Uint8Array {
  return canonicalBytes(
    buildEntry({
      operation: `handle_${i}`,
      principal,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      trustScore: 100,
      parentIds: parent ? [parent] : undefined,
      labels: {
        'kest.identity': '{"agent":null,"task":"checkout","user":"alice"}',
        ...(parent ? {} : { 'kest.source_type': 'internal' }),
      },
      policyContext: { enterprise_policies: ['baseline'], function_policies: ['orders-read'] },
      inputHash: 'a'.repeat(64),
      contentHash: 'b'.repeat(64),
    }),
  );
}

async function buildPassport(providers: IdentityProvider[], n: number): Promise<string[]> {
  const out: string[] = [];
  const known = new Set<string>();
  for (let i = 0; i < n; i++) {
    const p = providers[i % providers.length]!;
    const jws = await p.sign(typicalEntry(p.getWorkloadId(), out.at(-1) && entryHash(out.at(-1)!), i), {
      knownChains: known,
    });
    const h = parseJws(jws).header;
    if (h.x5c && h['x5t#S256']) known.add(h['x5t#S256']);
    out.push(jws);
  }
  return out;
}

const compactProviders = svids.map((s) => new SPIREProvider(fixed(s)));
const fullProviders = svids.map((s) => new SPIREProvider(fixed(s), { chainMode: 'full' }));
const compact = await buildPassport(compactProviders, 100);
const full = await buildPassport(fullProviders, 100);
const local = new LocalEd25519Provider({ workloadId: 'spiffe://example.org/frontend', quiet: true });
const localEntry = await local.sign(typicalEntry(local.getWorkloadId()));

const bundle = ca.bundle();
const verifyCold = async (passport: string[]) => {
  const trust = new SpiffeTrustSource({ bundles: bundle });
  const report = await new PassportVerifier({ trust, tipCacheSize: 0 }).verify(passport);
  if (report.entries.length !== 100) throw new Error('verification incomplete');
};
await verifyCold(compact);
await verifyCold(full);

const es256 = compactProviders[0]!;
const ed = new SPIREProvider(fixed(ca.issue({ id: '/frontend-ed', keyType: 'ed25519' })));
const entryBytes = typicalEntry(es256.getWorkloadId(), 'c'.repeat(64));
const edBytes = typicalEntry(ed.getWorkloadId(), 'c'.repeat(64));
const knownAll = new Set(svids.map((s) => s.thumbprint));
const edKnown = new Set([ed.currentSvid().thumbprint]);

const bench = new Bench({ time: 3000, warmupTime: 500 });
bench
  .add('ES256 sign, P-256 SVID key (SPIREProvider, compact header)', () => {
    es256.sign(entryBytes, { knownChains: knownAll });
  })
  .add('EdDSA sign, Ed25519 SVID key (SPIREProvider, compact header)', () => {
    ed.sign(edBytes, { knownChains: edKnown });
  })
  .add('cold verify 100-entry SVID passport, compact (x5t#S256)', async () => {
    await verifyCold(compact);
  })
  .add('cold verify 100-entry SVID passport, full (x5c in every entry)', async () => {
    await verifyCold(full);
  });
await bench.run();

const rows = bench.tasks.map((t) => taskRow(t, 'ms'));
const bytes = (list: string[]) => Buffer.byteLength(JSON.stringify(list));
const sizes = {
  entry_es256_full_x5c_leaf_only: full[0]!.length,
  entry_es256_full_x5c_leaf_plus_intermediate: full[1]!.length,
  entry_es256_compact_first_of_svid: compact[0]!.length,
  entry_es256_compact_later: compact[3]!.length,
  entry_ed25519_local_kid: localEntry.length,
  passport_100_compact_bytes: bytes(compact),
  passport_100_full_bytes: bytes(full),
};
const coldCompact = rows[2]!;
const summary = {
  note: 'shared 2-core machine: figures are noisy',
  sizes,
  target: 'cold verification of 100 SVID-signed entries < 40 ms (median)',
  pass: coldCompact.median < 40,
};
console.table(rows);
console.table(sizes);
console.log(`cold 100-entry compact verification: median ${coldCompact.median} ms (target < 40 ms)`);
writeResults('spiffe', rows, summary);
