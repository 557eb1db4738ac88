export { Passport, type PassportLimits } from './passport.js';
export { VerifiedTipCache } from './tip-cache.js';
export {
  type EntryReport,
  PassportVerifier,
  type PassportVerifierOptions,
  type RootRule,
  type VerificationReport,
  type VerifyOptions,
} from './verifier.js';
