/**
 * Propagation benchmarks: baggage header parse/serialize, BaggageManager store/restore per tier
 * (inline, compressed, claim check in memory and in a real redis-server when installed).
 *
 *   npx tsx bench/propagation.bench.ts
 *
 * Prints a table (median, p99, ops/s) and writes bench/results/propagation.json.
 * restore() includes Passport.deserialize (strict JWS + payload parsing of every entry), not
 * signature verification.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Bench } from 'tinybench';
import { buildEntry } from '../src/entry/build.js';
import { Passport } from '../src/passport/passport.js';
import { parseBaggage, parseBaggageMembers, serializeBaggage } from '../src/propagation/baggage.js';
import { MemoryCacheProvider } from '../src/propagation/cache.js';
import { BaggageManager, type PropagationTier, passportTier } from '../src/propagation/manager.js';
import { RedisCacheProvider } from '../src/propagation/redis.js';
import { canonicalBytes } from '../src/wire/canonical.js';
import { signJws } from '../src/wire/jws.js';
import { type RedisServer, startRedisServer } from '../test/support/redis.js';
import { taskRows, writeResults } from './result.js';

const { privateKey } = generateKeyPairSync('ed25519');
function makePassport(n: number): Passport {
  let p = Passport.empty();
  for (let i = 0; i < n; i++) {
    const payload = buildEntry({
      operation: `hop.${i}`,
      principal: `spiffe://example.org/svc/hop-${i}`,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      trustScore: 100,
      parentIds: p.tipHash ? [p.tipHash] : [],
    });
    p = p.append(signJws(canonicalBytes(payload), privateKey, { typ: 'JWS' }));
  }
  return p;
}

const identity = { user: 'alice@example.org', agent: 'planner', task: 'q3-report' };
const passports: Record<Exclude<PropagationTier, never>, Passport> = {
  inline: makePassport(3),
  compressed: makePassport(12),
  claim_check: makePassport(60),
};

const bench = new Bench({ time: 400, warmupTime: 100 });
const memory = new MemoryCacheProvider();
const mgr = new BaggageManager({ cache: memory });
const notes: Record<string, unknown> = {};

// Header parse / serialize.
for (const tier of ['inline', 'compressed', 'claim_check'] as const) {
  const members = await mgr.store(passports[tier], undefined, {
    identity,
    members: { 'app.tenant': 'acme' },
  });
  if (passportTier(members) !== tier)
    throw new Error(`fixture for ${tier} landed in ${passportTier(members)}`);
  const header = serializeBaggage(members);
  notes[`header_bytes_${tier}`] = header.length;
  bench.add(`parse baggage header (${tier}, ${header.length} B)`, () => {
    parseBaggage(header);
  });
  if (tier === 'inline') {
    bench.add(`serialize baggage header (${tier}, ${header.length} B)`, () => {
      serializeBaggage(members);
    });
  }
}
const smallHeader = 'kest.user=alice%40example.org,kest.agent=planner,kest.task=q3,app.tenant=acme';
bench.add(`parse baggage header (4 small members, ${smallHeader.length} B)`, () => {
  parseBaggage(smallHeader);
});

// store / restore per tier, members going through the wire (header) as a real hop sees them.
async function addTiers(
  label: string,
  manager: BaggageManager,
  readerFor: () => BaggageManager,
): Promise<void> {
  for (const tier of ['inline', 'compressed', 'claim_check'] as const) {
    const passport = passports[tier];
    // A separate manager for restore: the store loop fills (and rightly evicts from) the LRU.
    const reader = readerFor();
    const wire = parseBaggageMembers(serializeBaggage(await reader.store(passport)));
    bench.add(`store ${tier} (${passport.length} entries, ${label})`, async () => {
      await manager.store(passport);
    });
    bench.add(`restore ${tier} (${passport.length} entries, ${label})`, async () => {
      await reader.restore(wire);
    });
  }
}
const readerCache = new MemoryCacheProvider();
await addTiers('memory cache', mgr, () => new BaggageManager({ cache: readerCache }));

let redis: RedisServer | undefined;
let redisCache: RedisCacheProvider | undefined;
try {
  redis = await startRedisServer();
  redisCache = new RedisCacheProvider({ url: redis.url });
  const rmgr = new BaggageManager({ cache: redisCache });
  const passport = passports.claim_check;
  const readerMgr = new BaggageManager({ cache: redisCache });
  const wire = parseBaggageMembers(serializeBaggage(await readerMgr.store(passport)));
  bench.add(`store claim_check (${passport.length} entries, redis loopback)`, async () => {
    await rmgr.store(passport);
  });
  bench.add(`restore claim_check (${passport.length} entries, redis loopback)`, async () => {
    await readerMgr.restore(wire);
  });
} catch (err) {
  notes.redis = `skipped: ${(err as Error).message}`;
}

await bench.run();

const { rows, errors } = taskRows(bench.tasks, 'us');
console.table(rows);

const file = writeResults('propagation', rows, {
  caveat: 'shared 2-core dev machine, other engineers running concurrently: figures are noisy',
  notes,
  ...(errors.length > 0 ? { errors } : {}),
});
console.log(`wrote ${file}`);

await redisCache?.close();
await memory.close();
await readerCache.close();
await redis?.stop();
