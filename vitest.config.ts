import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

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

export default defineConfig({
  plugins: [tc39Decorators()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
