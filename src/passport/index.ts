export { Passport, type PassportLimits } from './passport.js';
export { VerifiedTipCache } from './tip-cache.js';
export {
  type EntryReport,
  PassportVerifier,
  type PassportVerifierOptions,
  type VerificationReport,
  type VerifyOptions,
} from './verifier.js';
