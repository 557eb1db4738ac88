import { readFileSync } from 'node:fs';

/** This package's version, written into every entry's `runtime.version`. Works from src/ and dist/. */
export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
