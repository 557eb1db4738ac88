/**
 * `npm run bench [-- NAME...]`: runs every bench/*.bench.ts (or those whose name contains one of
 * the given words) one after another — never in parallel, so they do not compete for the cores —
 * each in its own `node --import tsx` process, then prints a summary. Each benchmark prints its own
 * table and writes bench/results/<area>.json. Exit code 1 if any benchmark failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const root = join(benchDir, '..');
const filters = process.argv.slice(2);
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

if (files.length === 0) {
  console.error(`no bench/*.bench.ts matches ${filters.join(', ') || '(none)'}`);
  process.exit(2);
}

interface Outcome {
  bench: string;
  status: string;
  seconds: string;
  results: string;
}
const outcomes: Outcome[] = [];
console.log(
  `running ${files.length} benchmark(s) on node ${process.version}, ${cpus().length} CPU(s): ${files.join(', ')}`,
);
for (const file of files) {
  const area = basename(file, '.bench.ts');
  const resultFile = join(benchDir, 'results', `${area}.json`);
  const before = existsSync(resultFile) ? statSync(resultFile).mtimeMs : 0;
  console.log(`\n=== ${file} ===`);
  const started = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, file)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, KEST_LOG_LEVEL: process.env.KEST_LOG_LEVEL ?? 'error' },
  });
  const after = existsSync(resultFile) ? statSync(resultFile).mtimeMs : 0;
  outcomes.push({
    bench: area,
    status: r.error ? `error: ${r.error.message}` : r.status === 0 ? 'ok' : `exit ${r.status ?? r.signal}`,
    seconds: ((performance.now() - started) / 1000).toFixed(1),
    results: after > before ? `bench/results/${area}.json` : '(not written)',
  });
}

console.log('\n=== summary ===');
console.table(Object.fromEntries(outcomes.map(({ bench, ...rest }) => [bench, rest])));
process.exitCode = outcomes.every((o) => o.status === 'ok') ? 0 : 1;
