/** The enclosing scope's passport: the parents of the next entry, and moving it forward after a call. */
import type { Span } from '@opentelemetry/api';
import { getConfiguration } from '../config/config.js';
import type { PassportScope } from '../context/context.js';
import type { SignedEntry } from '../entry/signed.js';
import { Passport } from '../passport/passport.js';
import { SPAN } from '../wire/constants.js';

export function passportOf(entry: SignedEntry): Passport {
  return Passport.fromSignedEntries([entry]);
}

/** Move the enclosing scope forward; if a concurrent sibling already did, keep both branches open. */
export function advance(
  enclosing: PassportScope | undefined,
  start: Passport | undefined,
  startTips: string[] | undefined,
  next: Passport,
): void {
  if (!enclosing) return;
  if (enclosing.passport === start && enclosing.tips === startTips) {
    enclosing.passport = next;
    enclosing.tips = undefined;
    return;
  }
  // A concurrent sibling finished first: keep both branches and join them at the next call.
  const added = next.entries.slice(start?.length ?? 0);
  const tips = enclosing.tips ?? (enclosing.passport.tipHash ? [enclosing.passport.tipHash] : []);
  enclosing.passport = Passport.fromSignedEntries([...enclosing.passport.entries, ...added]);
  enclosing.tips = next.tipHash ? [...tips, next.tipHash] : tips;
}

/** The parents of the next entry in a scope: every open branch tip, else the last entry. */
export function parentsOf(passport: Passport | undefined, tips: string[] | undefined): SignedEntry[] {
  if (!passport) return [];
  if (!tips) return passport.tip ? [passport.tip] : [];
  return tips.map((hash) => passport.entries[passport.indexOfHash(hash) as number] as SignedEntry);
}

const MAX_PASSPORT_ATTRIBUTE = 16 * 1024;
export function setPassportAttribute(span: Span, passport: Passport | undefined): void {
  if (!passport || !span.isRecording() || getConfiguration().passportInSpans !== true) return;
  const json = passport.serialize();
  span.setAttribute(SPAN.passport, json.length <= MAX_PASSPORT_ATTRIBUTE ? json : `tip:${passport.tipHash}`);
}
