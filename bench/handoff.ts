/**
 * The handoff's own cost (docs/spec.md §11), measured in-process: one sign at the caller, one verify
 * and one replay-store write at the callee. Used by http.bench.ts, which also signs the pools of
 * single-use handoffs its load runs send.
 */
import {
  checkHandoffWindow,
  type HandoffSigner,
  signHandoff,
  verifyHandoff,
} from '../src/handoff/handoff.js';
import { MemoryReplayStore } from '../src/handoff/replay-store.js';
import type { TrustSource } from '../src/keys/trust-source.js';
import type { Passport } from '../src/passport/passport.js';
import { buildPassport } from '../test/support/chain.js';
import { type ResultRow, samplesRow } from './result.js';

export async function signPool(
  signer: HandoffSigner,
  passport: Passport,
  aud: string,
  n: number,
): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push((await signHandoff(signer, passport, aud, { ttlMs: 300_000 })) as string);
  return out;
}

async function time(n: number, fn: (i: number) => unknown): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

export async function handoffMicrobenchmarks(
  signer: HandoffSigner & Parameters<typeof buildPassport>[0][0]['identity'],
  trust: TrustSource,
  aud: string,
): Promise<ResultRow[]> {
  const passport = await buildPassport([{ identity: signer }]);
  const N = 5000;
  await time(500, () => signHandoff(signer, passport, aud)); // warm-up
  const sign = await time(N, () => signHandoff(signer, passport, aud));
  const handoffs = await signPool(signer, passport, aud, N);
  await time(500, (i) => verifyHandoff(handoffs[i] as string, passport, trust));
  const verify = await time(N, async (i) => {
    const claims = await verifyHandoff(handoffs[i] as string, passport, trust);
    checkHandoffWindow(claims, passport, 5000);
  });
  const store = new MemoryReplayStore();
  const claim = await time(N * 4, (i) => store.claimSync(`jti-${i}`, 60_000));
  return [
    samplesRow('handoff sign (caller, Ed25519)', sign, 'us', { variant: 'micro' }),
    samplesRow('handoff verify + window (callee)', verify, 'us', { variant: 'micro' }),
    samplesRow('handoff replay-store claim (memory)', claim, 'us', { variant: 'micro' }),
  ];
}
