// Which version of a style the route asks for. An adapter rollout moves a style's traffic from @v1 to @v2 on
// the same pods, so the choice travels in request headers a Gateway API HTTPRoute sets:
//   X-Adapter-Version: ink-wash@v2            a pin, e.g. from a backendRef's RequestHeaderModifier (two weighted
//                                             backendRefs to one Service; Gateway API "extended" support)
//   X-Adapter-Split: ink-wash@v1=80, ink-wash@v2=20   weights, from a rule's RequestHeaderModifier ("core"
//                                             support: for gateways that ignore backendRef filters; Traefik v3.7 applies both)
// Both apply only to a request that names the style without a version: a client that names @vN gets @vN.
// With X-Adapter-Assignment-Key the split is sticky (same key, same version); without it, random per request.
// The sticky draw is the A/B assignment of docs/experiment-assignment.md: bucket = first 4 bytes of
// SHA-256(`<salt>:<key>`) mod 10 000, the salt from X-Adapter-Assignment-Salt (a StyleRollout sets one per
// rollout, `<style>=<salt>`) or the style's name; the split's first entry takes the lowest buckets, so a StyleRollout that lists
// its candidate first keeps every user who got it on it while its share grows, and an app can tell a user's
// version with the same few lines.
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { parseStyle } from './style.js';

export const ADAPTER_PIN_HEADER = 'x-adapter-version';
export const ADAPTER_SPLIT_HEADER = 'x-adapter-split';
export const ADAPTER_ASSIGNMENT_HEADER = 'x-adapter-assignment-key';
export const ADAPTER_SALT_HEADER = 'x-adapter-assignment-salt';
/** Buckets of the sticky draw (docs/experiment-assignment.md). */
const BUCKETS = 10_000;

type Headers = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/** The style to resolve: the request's own, or the version the route pins or draws for it. */
export function routedStyle(style: string, headers: Headers, random: () => number): string {
  const asked = parseStyle(style);
  if (!asked || asked.version !== undefined) return style;
  const pinned = entries(one(headers[ADAPTER_PIN_HEADER]), 'X-Adapter-Version', false).find((e) => e.name === asked.name);
  if (pinned) return pinned.text;
  const split = entries(one(headers[ADAPTER_SPLIT_HEADER]), 'X-Adapter-Split', true).filter((e) => e.name === asked.name);
  const total = split.reduce((a, e) => a + e.weight, 0);
  if (total === 0) return style;
  const key = one(headers[ADAPTER_ASSIGNMENT_HEADER]);
  if (key !== undefined && key !== '') {
    // Integers only: a float point would put a boundary bucket on the wrong side of a weight (29 % → 2900).
    const scaled = bucketOf(saltFor(one(headers[ADAPTER_SALT_HEADER]), asked.name), key) * total;
    let cumulative = 0;
    for (const e of split) {
      cumulative += e.weight;
      if (scaled < cumulative * BUCKETS) return e.text;
    }
  } else {
    let point = random() * total;
    for (const e of split) {
      if (point < e.weight) return e.text;
      point -= e.weight;
    }
  }
  return (split[split.length - 1] as { text: string }).text;
}

interface Entry {
  name: string;
  text: string;
  weight: number;
}

/** `a@v1, b@v2` or, with weights, `a@v1=80, a@v2=20`; a malformed header is refused naming it. */
function entries(value: string | undefined, header: string, weighted: boolean): Entry[] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((raw) => {
    const [text = '', weight] = raw.trim().split('=');
    const ref = parseStyle(text.trim());
    const w = weighted ? Number(weight) : 1;
    if (!ref || ref.version === undefined || !Number.isInteger(w) || w < 0 || (weighted ? weight === undefined : weight !== undefined)) {
      const form = weighted ? '<name>@v<N>=<weight>, …' : '<name>@v<N>, …';
      throw new ValidationError([
        { field: `header ${header}`, message: `header ${header} must be ${form} (got ${JSON.stringify(value)})`, allowed: { syntax: form }, value },
      ]);
    }
    return { name: ref.name, text: text.trim(), weight: w };
  });
}

/**
 * The salt `style` draws with from X-Adapter-Assignment-Salt: `ink-wash=abc, neon=def` (one per style, so rollouts
 * of two styles on one rule keep their own), or a bare salt for every style; the style's name when none.
 */
function saltFor(value: string | undefined, style: string): string {
  if (value === undefined || value.trim() === '') return style;
  if (!value.includes('=')) return value.trim();
  for (const raw of value.split(',')) {
    const [name = '', salt = ''] = raw.split('=').map((x) => x.trim());
    if (name === style && salt) return salt;
  }
  return style;
}

/** The bucket, 0 … 9 999, of `key` under `salt`: the first 4 bytes of SHA-256(`<salt>:<key>`), big-endian, mod 10 000. */
export function bucketOf(salt: string, key: string): number {
  return createHash('sha256').update(`${salt}:${key}`, 'utf8').digest().readUInt32BE(0) % BUCKETS;
}
