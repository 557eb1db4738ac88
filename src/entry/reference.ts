/**
 * Reading entries signed by the Python reference runtime (profile `reference`, docs/interop.md).
 * The signature covers the JWS bytes, not this object, so the payload may be read into the spec's
 * form before the strict validation: taint lists as sets (sorted, duplicates merged), a missing
 * `labels.trace_id` as "", `null` deviation fields as empty. Everything else stays strict
 * (validateEntryPayload runs afterwards on the result).
 */

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string list read as a set: sorted, duplicates merged. Anything else is left for validation. */
function asSet(v: unknown): unknown {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return v;
  return [...new Set(v as string[])].sort();
}

const POLICY_LISTS = ['enterprise_policies', 'platform_policies', 'app_policies', 'function_policies'];
const DEVIATION_FIELDS = ['policy', 'tier', 'reason', 'approver'];

/** The payload in the spec's form (a copy; the input is not changed). */
export function normalizeReferencePayload(value: unknown): unknown {
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const k of ['taints', 'added_taints', 'removed_taints']) out[k] = asSet(out[k]);
  if (isObject(out.labels) && !('trace_id' in out.labels)) out.labels = { ...out.labels, trace_id: '' };
  if (isObject(out.policy_context)) {
    const pc: Record<string, unknown> = { ...out.policy_context };
    for (const k of POLICY_LISTS) if (pc[k] === null) pc[k] = [];
    if (pc.deviations === null) pc.deviations = [];
    if (Array.isArray(pc.deviations)) {
      pc.deviations = pc.deviations.map((d) => {
        if (!isObject(d)) return d;
        const copy: Record<string, unknown> = { ...d };
        for (const f of DEVIATION_FIELDS) if (copy[f] === null) copy[f] = '';
        return copy;
      });
    }
    out.policy_context = pc;
  }
  return out;
}
