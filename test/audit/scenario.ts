/**
 * A demo-like audit scenario for the viewer: a trusted chain with a web fetch, a sanitizer that
 * clears the taint, a write — plus a second trace whose middle entry was edited after signing.
 */
import { type AuditReport, auditSpans } from '../../src/audit/index.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import { MockIdentityProvider } from '../../src/testing/index.js';
import { buildPassport } from '../support/chain.js';
import { spansOfPassport } from './run.js';

export async function viewerScenario(): Promise<{ reports: AuditReport[]; editedEntryId: string }> {
  const ids = ['gateway', 'research', 'guard', 'ledger'].map(
    (name) => new MockIdentityProvider({ workloadId: `spiffe://demo.kest/${name}` }),
  );
  const trust = new JwksTrustSource(...ids.map((id) => id.getPublicJwks()));
  const [gw, fetcher, sanitizer, ledger] = ids as [
    MockIdentityProvider,
    MockIdentityProvider,
    MockIdentityProvider,
    MockIdentityProvider,
  ];
  const good = await buildPassport([
    { identity: gw, operation: 'gateway.handle', sourceType: 'user_input' },
    {
      identity: fetcher,
      operation: 'research.fetch',
      sourceType: 'internet',
      addedTaints: ['web', 'unverified_source'],
    },
    {
      identity: sanitizer,
      operation: 'guard.sanitize',
      trustOverride: 90,
      removedTaints: ['web', 'unverified_source'],
    },
    { identity: ledger, operation: 'ledger.record', sourceType: 'internal' },
  ]);
  const second = await buildPassport([
    { identity: gw, operation: 'gateway.handle', sourceType: 'user_input' },
    { identity: fetcher, operation: 'research.fetch', sourceType: 'third_party_api', addedTaints: ['pii'] },
    { identity: ledger, operation: 'ledger.record', sourceType: 'internal' },
  ]);
  const spans = [
    ...spansOfPassport(good.toJSON(), '4bf92f3577b34da6a3ce929d0e0e4736'),
    ...spansOfPassport(second.toJSON(), '0af7651916cd43dd8448eb211c80319c'),
  ];
  // Edit the second trace's middle entry after signing: claim trust 100.
  const target = spans[5]!;
  const [h, p, s] = (target.attributes['kest.signature'] as string).split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  payload.trust_score = 100;
  target.attributes['kest.signature'] =
    `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
  const reports = await auditSpans(spans, {
    trust,
    sanitizers: [{ principal: sanitizer.getWorkloadId(), mayRemove: '*', maxTrust: 90 }],
  });
  return { reports, editedEntryId: payload.entry_id as string };
}
