#!/usr/bin/env node
/**
 * Typecheck a consumer project as its tsconfig.json says, reporting what concerns Kest: every
 * diagnostic of the project's own files and of kest's declarations (node_modules/kest), plus the
 * global ones. Other packages' declarations are checked only as far as those files use them (their
 * own errors are theirs, and checking all of them is most of the time). Printed as
 * `tsc --pretty false` prints them, paths relative to the project; exit 0 either way.
 *
 * The compiler API, not the tsc command: tsc reports no type errors while any file has a syntax
 * error, and one broken docs snippet must not hide another's type error. A script of its own, run
 * with node: the compiler runs about twice as slow inside a vitest worker (measured).
 *
 * Usage: node test/package/typecheck.mjs <project dir>
 */
import { join, resolve, sep } from 'node:path';
import ts from 'typescript';

const project = resolve(process.argv[2] ?? '.');
const config = ts.readConfigFile(join(project, 'tsconfig.json'), ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, project);
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
// kest is a real copy in the project; other packages may be links whose files resolve elsewhere.
const ours = join(project, 'node_modules', 'kest') + sep;
const theirs = (name) => name.includes(`${sep}node_modules${sep}`) && !name.startsWith(ours);

const diagnostics = [
  ...(config.error ? [config.error] : []),
  ...parsed.errors,
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
];
for (const file of program.getSourceFiles()) {
  const name = resolve(file.fileName);
  if (theirs(name) || program.isSourceFileDefaultLibrary(file)) continue;
  diagnostics.push(...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file));
}
process.stdout.write(
  ts.formatDiagnostics(ts.sortAndDeduplicateDiagnostics(diagnostics), {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => project,
    getNewLine: () => '\n',
  }),
);
