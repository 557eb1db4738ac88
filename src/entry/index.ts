export { buildEntry, type EntryInit, sortedUnique } from './build.js';
export { signEntry } from './sign.js';
export { parseSignedEntry, type SignedEntry } from './signed.js';
export { ENTRY_FIELDS, type KestEntryPayload, type PolicyContextPayload } from './types.js';
export { isRootEntry, validateEntryPayload } from './validate.js';
