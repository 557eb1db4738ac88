export { Passport, type PassportLimits } from './passport.js';
export { VerifiedTipCache } from './tip-cache.js';
export {
  ANY_ROOT_PRINCIPAL,
  type EntryReport,
  PassportVerifier,
  type PassportVerifierOptions,
  type RootOrigin,
  type RootRule,
  UNGUARDED_ROOTS,
  type VerificationReport,
  type VerifyOptions,
} from './verifier.js';
