/**
 * One schema for every bench/results/<area>.json: run facts (bench, date, machine) and area notes,
 * then `results`, rows of { name, unit, median, p99, samples } plus optional extra fields.
 * Latencies are in `unit` ('us' or 'ms'); `samples` is how many measurements the figures come from.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Task } from 'tinybench';
import { ed25519Backend } from '../src/wire/ed25519.js';

export type LatencyUnit = 'us' | 'ms';

export interface ResultRow {
  name: string;
  unit: LatencyUnit;
  median: number;
  p99: number;
  samples: number;
  [extra: string]: unknown;
}

const FROM_MS: Record<LatencyUnit, number> = { us: 1000, ms: 1 };

/** Four significant digits: enough for noisy timings, short in the JSON. */
const round = (value: number) => Number(value.toPrecision(4));

/** A row from a tinybench task (its latencies are in ms); ops_per_s = 1 / mean latency. */
export function taskRow(task: Task, unit: LatencyUnit, extra: Record<string, unknown> = {}): ResultRow {
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`${task.name}: ${r.state}`);
  return {
    name: task.name,
    unit,
    median: round(r.latency.p50 * FROM_MS[unit]),
    p99: round(r.latency.p99 * FROM_MS[unit]),
    // tinybench keeps only the count unless retainSamples is set: latency.samples is undefined.
    samples: r.latency.samplesCount,
    ops_per_s: Math.round(r.throughput.mean),
    ...extra,
  };
}

/** Rows of the completed tasks, and what failed (kept apart: a failed task has no figures). */
export function taskRows(
  tasks: readonly Task[],
  unit: LatencyUnit,
): { rows: ResultRow[]; errors: { name: string; error: string }[] } {
  const rows: ResultRow[] = [];
  const errors: { name: string; error: string }[] = [];
  for (const t of tasks) {
    const r = t.result;
    if (r.state === 'completed') rows.push(taskRow(t, unit));
    else errors.push({ name: t.name, error: r.state === 'errored' ? r.error.message : r.state });
  }
  return { rows, errors };
}

/** The q-quantile (0..1) of measurements, nearest rank (a value that was measured). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A row from raw measurements in ms (for benches that time rounds themselves). */
export function samplesRow(
  name: string,
  measurementsMs: readonly number[],
  unit: LatencyUnit,
  extra: Record<string, unknown> = {},
): ResultRow {
  return {
    name,
    unit,
    median: round(quantile(measurementsMs, 0.5) * FROM_MS[unit]),
    p99: round(quantile(measurementsMs, 0.99) * FROM_MS[unit]),
    samples: measurementsMs.length,
    ...extra,
  };
}

/** Write bench/results/<area>.json; returns its path. `notes` holds the area's own facts (targets...). */
export function writeResults(
  area: string,
  rows: readonly ResultRow[],
  notes: Record<string, unknown> = {},
): string {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${area}.json`, dir);
  const doc = {
    bench: area,
    date: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, ed25519: ed25519Backend() },
    ...notes,
    results: rows,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file.pathname;
}
