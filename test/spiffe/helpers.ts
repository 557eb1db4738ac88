import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEntry } from '../../src/entry/build.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { canonicalBytes } from '../../src/wire/canonical.js';
import { entryHash } from '../../src/wire/hash.js';
import { parseJws } from '../../src/wire/jws.js';

/** A short private directory for Unix sockets (sun_path is limited to ~107 bytes). */
export function socketDir(): { dir: string; socket: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kest-spiffe-'));
  return {
    dir,
    socket: join(dir, 'agent.sock'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Appends hops signed by `provider` to a linear passport, as the hook does: trust 100 all along
 * (root source_type system), and knownChains = the thumbprints whose x5c an earlier entry carries.
 */
export class ChainBuilder {
  readonly entries: string[] = [];
  readonly known = new Set<string>();

  async append(
    provider: IdentityProvider,
    overrides: { principal?: string; timestampMs?: number; compact?: boolean } = {},
  ): Promise<string> {
    const parent = this.entries.at(-1);
    const payload = buildEntry({
      operation: `op${this.entries.length}`,
      principal: overrides.principal ?? provider.getWorkloadId(),
      trustScore: 100,
      parentIds: parent ? [entryHash(parent)] : undefined,
      labels: parent ? {} : { 'kest.source_type': 'system' },
      traceId: '0af7651916cd43dd8448eb211c80319c',
      timestampMs: overrides.timestampMs,
    });
    const jws = await provider.sign(
      canonicalBytes(payload),
      overrides.compact === false ? undefined : { knownChains: this.known },
    );
    const header = parseJws(jws).header;
    if (header.x5c && header['x5t#S256']) this.known.add(header['x5t#S256']);
    this.entries.push(jws);
    return jws;
  }
}
