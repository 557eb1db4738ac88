/**
 * `npm run demo -- --serve`: the three hops keep serving (no call is made) until SIGINT or SIGTERM,
 * e.g. to drive them with curl or a load tool. Prints exactly one line per hop (`hop1 URL`, the
 * route as the chain calls it), then `spans PATH` and `jwks PATH`; the caller's finally block closes
 * the servers and flushes the span file, and the process exits 0.
 */
import type { RunningChain } from './chain.js';

export async function serveUntilSignal(
  chain: RunningChain,
  names: readonly string[],
  files: { spans: string; jwks: string; agent?: string | undefined },
  out: (line?: string) => void,
): Promise<number> {
  for (const [i, name] of names.entries()) out(`${name} ${chain.services[i]?.url}`);
  out(`spans ${files.spans}`);
  out(`jwks ${files.jwks}`);
  if (files.agent) out(`agent ${files.agent}`); // --spiffe: the dev Workload API socket
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
