/** Real signed passports for propagation tests: a linear chain of Ed25519-signed entries. */
import { generateKeyPairSync } from 'node:crypto';
import { buildEntry } from '../../src/entry/build.js';
import { Passport } from '../../src/passport/passport.js';
import { canonicalBytes } from '../../src/wire/canonical.js';
import { signJws } from '../../src/wire/jws.js';

const { privateKey } = generateKeyPairSync('ed25519');

/** One signed entry whose parent is `parent` (a hash) or the root. */
export function signEntry(
  parent: string | undefined,
  i: number,
  extraLabels: Record<string, string> = {},
): string {
  const payload = buildEntry({
    operation: `hop.${i}`,
    principal: `spiffe://example.org/svc/hop-${i % 7}`,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    trustScore: 100,
    parentIds: parent ? [parent] : [],
    labels: extraLabels,
  });
  return signJws(canonicalBytes(payload), privateKey, { typ: 'JWS' });
}

/** A linear passport of `n` entries. */
export function makePassport(n: number, extraLabels: Record<string, string> = {}): Passport {
  let p = Passport.empty();
  for (let i = 0; i < n; i++) p = p.append(signEntry(p.tipHash, i, extraLabels));
  return p;
}
