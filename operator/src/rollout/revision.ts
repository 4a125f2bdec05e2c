import { createHash } from 'node:crypto';

/** Stable JSON: object keys sorted, so equal templates hash equally whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Revision name of a pod template: the first 10 hex digits of its SHA-256. */
export function revisionOf(revisionInputs: unknown): string {
  return createHash('sha256').update(canonicalJson(revisionInputs)).digest('hex').slice(0, 10);
}
