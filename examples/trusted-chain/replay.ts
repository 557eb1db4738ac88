/**
 * `npm run demo -- --attack=replay`: after the chain ran, an attacker who captured hop1 → hop2's
 * exact request (passport and handoff, e.g. from a proxy log) sends it again to hop2, and to hop3.
 * Both must refuse before any handler runs: hop2 with `replayed` (the handoff's jti was used),
 * hop3 with `wrong_audience` (the handoff names hop2).
 */
import type { RunningChain } from './chain.js';

/** The headers of hop1 → hop2's request, as hop2 received them. */
export type RecordedRequest = Record<string, string>;

/** The headers an attacker can copy and re-send (the Kest ones and the trace context). */
function replayable(recorded: RecordedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['baggage', 'traceparent', 'tracestate']) {
    const v = recorded[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Re-send the recorded request; prints one line per target. True when both refused as expected. */
export async function replayAttack(
  recorded: RecordedRequest | undefined,
  chain: RunningChain,
  out: (line?: string) => void,
): Promise<boolean> {
  if (!recorded?.baggage) {
    out('replay: hop2 received no passport to copy');
    return false;
  }
  out('Replay attack: the exact request hop1 sent to hop2 (passport + kest.handoff), sent again');
  const targets = [
    { hop: 'hop2', url: chain.services[1]?.url as string, expect: 'replayed' },
    { hop: 'hop3', url: chain.services[2]?.url as string, expect: 'wrong_audience' },
  ];
  const before = new Map(chain.calls);
  let ok = true;
  for (const t of targets) {
    const res = await fetch(t.url, { headers: replayable(recorded) });
    const body = (await res.json().catch(() => ({}))) as {
      error?: string;
      reason?: string;
      message?: string;
    };
    const ran = (chain.calls.get(t.hop) ?? 0) - (before.get(t.hop) ?? 0);
    out(
      `  → ${t.hop}: ${res.status} ${body.error ?? ''} (${body.reason ?? 'no reason'}) ${body.message ?? ''}`,
    );
    out(`    handler ran ${ran} time(s)`);
    ok &&= res.status === 401 && body.reason === t.expect && ran === 0;
  }
  out(ok ? 'replay refused: hop2 → replayed, hop3 → wrong_audience' : 'replay NOT refused as expected');
  return ok;
}
