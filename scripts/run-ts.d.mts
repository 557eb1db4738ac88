/** Types of scripts/run-ts.mjs, for the tests that import it. */
export interface RunTsOptions {
  /** Where inputs are named from and tsconfig.json/package.json are read. Default: this repository. */
  root?: string;
  /** Where bundles are cached. Default: <root>/node_modules/.cache/kest-run. */
  cacheDir?: string;
}
export declare function ensureBundle(
  entry: string,
  options?: RunTsOptions,
): Promise<{ main: string; built: boolean }>;
export declare function runEntry(entry: string, args: string[], options?: RunTsOptions): Promise<void>;
