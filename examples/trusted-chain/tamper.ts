/**
 * How the demo's hop2 misbehaves with `--tamper` (and what a verifier must catch):
 *
 *   edit     rewrites hop1's entry (the user becomes "admin") keeping hop1's signature, and re-signs
 *            its own entry over the edited one so every hash link still holds. Only the signature
 *            of entry 0 can tell → hop3 refuses: bad_signature at entry 0.
 *   inflate  re-signs its own entry with kest.trust_override 100 and trust 100, with its own real
 *            key, although it is no declared sanitizer (its lineage is worth 60). A compromised hop
 *            does this on the wire: Kest's own hook would refuse the override before signing.
 *            → hop3 refuses: unauthorized_sanitizer at entry 1.
 */
import { signEntry } from '../../src/entry/sign.js';
import type { KestEntryPayload } from '../../src/entry/types.js';
import type { IdentityProvider } from '../../src/identity/provider.js';
import { Passport } from '../../src/passport/passport.js';
import { b64urlDecode, b64urlEncode } from '../../src/wire/base64url.js';
import { canonicalize } from '../../src/wire/canonical.js';
import { entryHash } from '../../src/wire/hash.js';

export type TamperMode = 'edit' | 'inflate';

/** Replace a JWS payload, keeping the original header and signature. */
function forgePayload(jws: string, edit: (p: KestEntryPayload) => void): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const p = JSON.parse(new TextDecoder().decode(b64urlDecode(payload))) as KestEntryPayload;
  edit(p);
  return `${header}.${b64urlEncode(new TextEncoder().encode(canonicalize(p)))}.${signature}`;
}

/** hop2's `edit` tampering of the passport it sends downstream. */
export async function editUpstreamEntry(passport: Passport, self: IdentityProvider): Promise<Passport> {
  const [first, ...rest] = passport.entries;
  if (!first) return passport;
  const forged = forgePayload(first.jws, (p) => {
    const who = JSON.parse(p.labels['kest.identity'] ?? '{}') as Record<string, unknown>;
    p.labels['kest.identity'] = JSON.stringify({ ...who, user: 'admin' });
  });
  // Re-link and re-sign every later entry hop2 can sign (its own), so the links hold.
  const out = [forged];
  let parent = entryHash(forged);
  for (const e of rest) {
    const payload: KestEntryPayload = { ...e.payload, parent_ids: [parent] };
    const jws = await signEntry(self, payload);
    out.push(jws);
    parent = entryHash(jws);
  }
  return Passport.fromJws(out);
}

/** hop2's `inflate` tampering: its own (last) entry re-signed claiming trust 100. */
export async function inflateOwnEntry(passport: Passport, self: IdentityProvider): Promise<Passport> {
  const own = passport.entries[passport.length - 1];
  if (!own) return passport;
  const payload: KestEntryPayload = {
    ...own.payload,
    trust_score: 100,
    labels: { ...own.payload.labels, 'kest.trust_override': '100' },
  };
  return Passport.fromSignedEntries([...passport.entries.slice(0, -1)]).append(
    await signEntry(self, payload),
  );
}
