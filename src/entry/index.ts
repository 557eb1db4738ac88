/**
 * kest/wire: the building blocks under the hook — the wire format (src/wire/) and Kest entries
 * (build, sign through an EntrySigner, strict parse/validate). This barrel lives in entry/ because
 * entry sits above wire: a barrel in wire/ could not import entry/ without an upward import.
 */

export * from '../wire/index.js';
export { buildEntry, type EntryInit } from './build.js';
export { type EntrySigner, type SignOptions, signEntry } from './sign.js';
export { parseSignedEntry, type SignedEntry } from './signed.js';
export { ENTRY_FIELDS, type KestEntryPayload, type PolicyContextPayload } from './types.js';
export { isRootEntry, validateEntryPayload } from './validate.js';
