import { availableParallelism } from 'node:os';
import { transform } from 'esbuild';
import { configDefaults, defineConfig, type Plugin } from 'vitest/config';

/**
 * Vite 8's oxc transformer does not lower TC39 (stage 3) decorators and Node 20 cannot run them, so
 * files that use them are lowered with esbuild first (as tsx does for the examples).
 */
function tc39Decorators(): Plugin {
  return {
    name: 'kest:tc39-decorators',
    enforce: 'pre',
    async transform(code, id) {
      if (!id.endsWith('.ts') || !/^\s*@[\w.]+[\s(]/m.test(code)) return null;
      const out = await transform(code, {
        loader: 'ts',
        target: 'es2022',
        keepNames: true,
        sourcemap: true,
        sourcefile: id,
      });
      return { code: out.code, map: out.map };
    },
  };
}

/**
 * Test files that need a fresh process: they test once-per-process behaviour (a warning logged once)
 * that an earlier file in the same worker would already have used up.
 */
const ISOLATED = ['test/http/destinations.integration.test.ts'];

export default defineConfig({
  plugins: [tc39Decorators()],
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One worker per core, not vitest's default of one fewer: the main process mostly waits (sources
    // come transformed from the cache below) and many cases wait on servers and child processes.
    // On 2 cores, back to back at load 1-3: 34-36 s -> 22.5 s for 701 tests, the same CPU.
    maxWorkers: availableParallelism(),
    // Transformed sources are kept in node_modules/.experimental-vitest-cache between runs (keyed by
    // content and path): ~1.7 s less transform per run. After editing the plugin above, run
    // `npx vitest --clearCache` (the cache key does not cover plugin code).
    experimental: { fsModuleCache: true },
    projects: [
      {
        // A worker runs its files one after another and keeps the modules it loaded (the sources, the
        // frameworks, OpenTelemetry) between them instead of loading them again for each file: a
        // third less CPU for the suite. Each file still runs its own hooks and cleans up after itself.
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
    ],
  },
});
