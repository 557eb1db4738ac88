/**
 * `--profile spec|reference` (docs/interop.md), shared by verify, inspect and audit, and the
 * baggage decoding of `kest inspect --baggage`.
 */
import type { Command } from 'commander';
import { INTEROP_PROFILES, type InteropProfile, type Passport } from '../index.js';
import { BaggageManager, parseBaggageMembers, readReferenceBaggage } from '../propagation/index.js';
import { EXIT } from './io.js';

export const PROFILE_HELP =
  "interop profile: 'spec' (default, exactly the spec) or 'reference' (also read what the Python reference runtime writes; docs/interop.md)";

/** The --profile value, or a usage error (exit 2). */
export function profileOption(value: string | undefined, command: Command, name: string): InteropProfile {
  if (value === undefined) return 'spec';
  if ((INTEROP_PROFILES as readonly string[]).includes(value)) return value as InteropProfile;
  return command.error(`kest ${name}: --profile must be one of ${INTEROP_PROFILES.join(', ')}`, {
    exitCode: EXIT.usage,
  });
}

/**
 * A `baggage` header to its passport under the profile's rules (chain tip checked). A claim
 * check cannot be resolved offline: it is refused (no cache).
 */
export async function passportOfBaggage(header: string, profile: InteropProfile): Promise<Passport> {
  const manager = new BaggageManager();
  if (profile === 'reference') return readReferenceBaggage(header, manager);
  return manager.restore(parseBaggageMembers(header));
}
