/**
 * What the hops record, and the offline check over it — the seam for kest/telemetry + kest/audit.
 *
 * Today: every kestVerified call emits an OpenTelemetry span carrying its signed entry
 * (`kest.signature`, KEST-SPEC §7); an in-memory exporter collects them and rebuild() orders the
 * entries by their hash links. With kest/telemetry the same spans go to a JSON-lines file
 * (KestTelemetry.setup({ exporter: 'file' })) and `kest audit <file>` rebuilds and verifies them.
 */
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { parseSignedEntry, type SignedEntry } from '../../src/entry/signed.js';
import { Passport } from '../../src/passport/passport.js';
import { ROOT_PARENT, SPAN } from '../../src/wire/constants.js';

export interface SpanRecorder {
  /** Every signed entry the hops' spans recorded (unordered, deduplicated). */
  entries(): string[];
  shutdown(): Promise<void>;
}

/** Register a tracer provider whose spans are kept in memory. */
export function startSpanRecorder(): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  return {
    entries: () => {
      const seen = new Set<string>();
      for (const span of exporter.getFinishedSpans()) {
        const jws = span.attributes[SPAN.signature];
        if (typeof jws === 'string') seen.add(jws);
      }
      return [...seen];
    },
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
    },
  };
}

/**
 * Order entries so that every parent precedes its children (the passport's transport order). An
 * entry whose parent is missing is left out: it cannot be placed, and the caller reports the gap.
 */
export function rebuildPassport(jwsList: readonly string[]): { passport: Passport; unplaced: SignedEntry[] } {
  const pending = jwsList.map((jws) => parseSignedEntry(jws));
  const placed = new Set<string>();
  const ordered: SignedEntry[] = [];
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    // Deterministic: among ready entries, the earliest timestamp first.
    pending.sort((a, b) => a.payload.timestamp_ms - b.payload.timestamp_ms);
    for (let i = 0; i < pending.length; i++) {
      const e = pending[i] as SignedEntry;
      if (e.payload.parent_ids.every((p) => p === ROOT_PARENT || placed.has(p))) {
        ordered.push(e);
        placed.add(e.hash);
        pending.splice(i, 1);
        progress = true;
        break;
      }
    }
  }
  return { passport: Passport.fromSignedEntries(ordered), unplaced: pending };
}
