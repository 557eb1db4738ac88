/**
 * Where the demo's workload identities come from, and what verifiers anchor them in.
 *
 * `local` (default): one LocalEd25519Provider per service (an ephemeral in-memory key each). The
 * hops verify against exactly the three public keys (a JWKS); the offline auditor reads the same
 * keys from a JWKS file the demo writes, as `kest audit --jwks` would.
 * `spiffe`: the in-repo development Workload API (DevAgent, trust domain example.org) on a temporary
 * Unix socket; each hop is a SPIREProvider holding one long-lived X509Source stream (ES256 SVIDs,
 * compact x5t#S256 chain form). Each hop verifies with a SpiffeTrustSource over its own source's
 * bundle; the offline auditor reads nothing but the bundle file the agent wrote — no JWKS.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalEd25519Provider } from '../../src/identity/local.js';
import type { IdentityProvider, PublicJwk } from '../../src/identity/provider.js';
import { JwksTrustSource } from '../../src/keys/jwks.js';
import type { TrustSource } from '../../src/keys/trust-source.js';
import type { SPIREProvider } from '../../src/spiffe/spire.js';
import type { X509Source } from '../../src/spiffe/x509source.js';

export type IdentityMode = 'local' | 'spiffe';

/** The dev agent's trust domain in --spiffe mode. */
export const SPIFFE_TRUST_DOMAIN = 'example.org';

export interface DemoIdentities {
  mode: IdentityMode;
  /** One per hop, in order. */
  providers: IdentityProvider[];
  /** Workload id of each hop (what the entries' labels.principal will be). */
  workloadIds: string[];
  /** What hop `i` verifies incoming entries against (a fresh source per hop). */
  trustFor: (i: number) => TrustSource;
  /** What the offline auditor verifies against: read back from the file(s) it was handed. */
  auditTrust: () => TrustSource;
  /** The file the auditor is handed, and the `kest audit` options naming it. */
  trustFile: string;
  auditArgs: string;
  /** Human description for the banner. */
  description: string;
  /** spiffe: each hop's X509Source (its SVID for mutual TLS, mtls.ts), and the agent's socket path. */
  sources?: X509Source[];
  agentSocket?: string;
  close(): Promise<void>;
}

/**
 * @param hops   the hops' names (hop1, ...) and their workload ids in local mode
 * @param outDir where the trust file for the auditor goes (trust.jwks.json or bundle.json)
 */
export async function createIdentities(
  hops: readonly { name: string; workload: string }[],
  mode: IdentityMode,
  outDir: string,
): Promise<DemoIdentities> {
  return mode === 'spiffe' ? spiffeIdentities(hops, outDir) : localIdentities(hops, outDir);
}

async function localIdentities(
  hops: readonly { name: string; workload: string }[],
  outDir: string,
): Promise<DemoIdentities> {
  const providers = hops.map((h) => new LocalEd25519Provider({ workloadId: h.workload, quiet: true }));
  const jwks: { keys: PublicJwk[] }[] = providers.map((p) => p.getPublicJwks());
  // What an auditor is handed: one JWKS whose keys each name their principal.
  const trustFile = join(outDir, 'trust.jwks.json');
  writeFileSync(trustFile, `${JSON.stringify({ keys: jwks.flatMap((j) => j.keys) }, null, 2)}\n`);
  return {
    mode: 'local',
    providers,
    workloadIds: hops.map((h) => h.workload),
    // A fresh source per consumer: each hop holds its own copy of the keys.
    trustFor: () => new JwksTrustSource(...jwks),
    auditTrust: () => JwksTrustSource.fromFile(trustFile),
    trustFile,
    auditArgs: `--jwks ${trustFile}`,
    description: 'LocalEd25519Provider per service (ephemeral dev keys; the verifiers get the 3 public keys)',
    close: async () => {},
  };
}

async function spiffeIdentities(
  hops: readonly { name: string; workload: string }[],
  outDir: string,
): Promise<DemoIdentities> {
  // Loaded only in this mode: gRPC and protobufjs cost the default run ~50 ms of start-up.
  const [{ DevAgent }, { SPIREProvider }, { SpiffeTrustSource }] = await Promise.all([
    import('../../src/spiffe/dev-agent.js'),
    import('../../src/spiffe/spire.js'),
    import('../../src/spiffe/trust-source.js'),
  ]);
  // A short path: Unix socket paths are limited to ~107 bytes.
  const socketDir = mkdtempSync(join(tmpdir(), 'kest-demo-'));
  const trustFile = join(outDir, 'bundle.json');
  const agentSocket = join(socketDir, 'agent.sock');
  const agent = await DevAgent.start({
    trustDomain: SPIFFE_TRUST_DOMAIN,
    socket: agentSocket,
    workloads: hops.map((h) => `/${h.name}`),
    bundleOut: trustFile,
  });
  const workloadIds = hops.map((h) => `spiffe://${SPIFFE_TRUST_DOMAIN}/${h.name}`);
  const providers: SPIREProvider[] = [];
  const close = async () => {
    await Promise.allSettled(providers.map((p) => p.close()));
    await agent.stop();
    rmSync(socketDir, { recursive: true, force: true });
  };
  try {
    for (const spiffeId of workloadIds) {
      providers.push(await SPIREProvider.connect({ address: agent.address, spiffeId }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    mode: 'spiffe',
    providers,
    workloadIds,
    // Each hop anchors in the bundle its own Workload API stream delivers, as a deployed service would.
    trustFor: (i) => new SpiffeTrustSource({ bundles: providers[i]?.source as X509Source }),
    auditTrust: () =>
      SpiffeTrustSource.fromBundleFile(SPIFFE_TRUST_DOMAIN, trustFile, { svidValidity: 'signing-time' }),
    trustFile,
    auditArgs: `--bundle ${trustFile} --trust-domain ${SPIFFE_TRUST_DOMAIN}`,
    description: `SPIREProvider per service: ES256 X.509-SVIDs from the dev Workload API (${agent.address}, trust domain ${SPIFFE_TRUST_DOMAIN}); verifiers anchor in the bundle`,
    close,
    sources: providers.map((p) => p.source as X509Source),
    agentSocket,
  };
}
