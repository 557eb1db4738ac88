/** @deprecated location: the logger lives in config/logger.ts. Kept until importers are re-pointed. */
export * from './config/logger.js';
