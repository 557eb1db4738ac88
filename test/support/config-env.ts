/**
 * For tests that point KEST_CONFIG at a deployment file: after each test the variable is what it
 * was before the file ran and the configuration is fresh (silent logger), so no deployment leaks
 * into the next test or, with modules shared between files, the next file.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { configure, resetConfiguration, silentLogger } from '../../src/index.js';

export function isolateDeploymentEnv(): void {
  const previous = process.env.KEST_CONFIG;
  beforeAll(() => configure({ logger: silentLogger }));
  afterEach(() => {
    if (previous === undefined) delete process.env.KEST_CONFIG;
    else process.env.KEST_CONFIG = previous;
    resetConfiguration();
    configure({ logger: silentLogger });
  });
  afterAll(() => resetConfiguration());
}
