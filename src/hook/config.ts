/** @deprecated location: configuration lives in config/. Kept until http/ imports are re-pointed. */
export * from '../config/config.js';
