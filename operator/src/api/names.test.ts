import { describe, expect, it } from 'vitest';
import { NAME_LIMIT, NameError, revisionObjectName, rolloutNameProblem } from './names.js';

const REVISION = '0123456789';
// A DNS-1123 label: what Services and label values must be.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// A DNS-1123 subdomain: what Deployments and ControllerRevisions must be.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Names of every length from 1 to 253 in shapes that stress a cut: '-' and '.' at every position. */
function rolloutNames(length: number): string[] {
  const patterns = ['a', 'ab-', 'a-', 'a.b-', 'x.', 'model-rollout-'];
  return patterns
    .map((p) => {
      let name = p.repeat(Math.ceil(length / p.length) + 1).slice(0, length);
      // metadata.name is itself a DNS-1123 subdomain: it ends in an alphanumeric, and no label ends in '-'.
      name = name.slice(0, -1) + 'z';
      return name.replace(/-\./g, 'q.').replace(/\.\./g, '.q');
    })
    .filter((n) => DNS_SUBDOMAIN.test(n));
}

describe('revisionObjectName', () => {
  it.each([
    ['a short name is kept whole', 't2v', 't2v-0123456789'],
    ['a name whose pair is exactly 63 characters is kept whole', 'a'.repeat(52), `${'a'.repeat(52)}-0123456789`],
    ['a 53-character name is cut and gets the first 6 hex digits of SHA-256 of the whole name', 'a'.repeat(53), `${'a'.repeat(45)}-abe346-0123456789`],
    ['a cut that would end in "-" drops the dash', `${'a'.repeat(44)}-bbbbbbbbbbbbbbbbbbbbbbb`, `${'a'.repeat(44)}-9f0338-0123456789`],
  ])('%s', (_what, rollout, expected) => {
    const name = revisionObjectName(rollout, REVISION);
    expect(name.length).toBeLessThanOrEqual(NAME_LIMIT);
    expect(name).toMatch(/-0123456789$/);
    expect(name).toBe(expected);
  });

  it('gives different objects to two long names that share their first 45 characters', () => {
    const a = revisionObjectName(`${'m'.repeat(50)}-one`, REVISION);
    const b = revisionObjectName(`${'m'.repeat(50)}-two`, REVISION);
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(NAME_LIMIT);
  });

  it('gives two revisions of a 63-character rollout two Deployments (the hash is never cut)', () => {
    const rollout = 'r'.repeat(63);
    expect(revisionObjectName(rollout, REVISION)).not.toBe(revisionObjectName(rollout, '9876543210'));
  });

  it('refuses a revision that leaves no room for a prefix, naming it', () => {
    expect(() => revisionObjectName('t2v', 'f'.repeat(60))).toThrow(NameError);
    expect(() => revisionObjectName('t2v', '')).toThrow(/revision ""/);
  });

  it('property: for every rollout name length 1–253, the name fits 63, is a valid name, keeps the hash and never ends in "-"', () => {
    let checked = 0;
    for (let length = 1; length <= 253; length++) {
      for (const rollout of rolloutNames(length)) {
        for (const revision of [REVISION, 'ffffffffff', '0000000000']) {
          const name = revisionObjectName(rollout, revision);
          expect(name.length, rollout).toBeLessThanOrEqual(NAME_LIMIT);
          expect(name, rollout).toMatch(DNS_SUBDOMAIN);
          expect(name.endsWith(`-${revision}`), rollout).toBe(true);
          expect(name, rollout).not.toMatch(/[-.]$/);
          expect(name, rollout).not.toMatch(/[-.]{2}|\.-|-\./);
          // Names that fit are left alone, so existing Deployments keep their names.
          if (rollout.length + 1 + revision.length <= NAME_LIMIT) expect(name).toBe(`${rollout}-${revision}`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(253 * 3);
  });
});

describe('rolloutNameProblem', () => {
  it('accepts names up to 63 characters, which are valid label values', () => {
    for (let length = 1; length <= NAME_LIMIT; length++) {
      for (const name of rolloutNames(length)) {
        expect(rolloutNameProblem(name), name).toBeUndefined();
        if (!name.includes('.')) expect(name).toMatch(DNS_LABEL);
      }
    }
  });

  it('refuses 64–253 characters, naming the field, the length and why', () => {
    for (let length = NAME_LIMIT + 1; length <= 253; length++) {
      const problem = rolloutNameProblem('a'.repeat(length));
      expect(problem).toContain('metadata.name');
      expect(problem).toContain(`is ${length} characters; at most 63`);
      expect(problem).toContain('modelrollout.dev/name');
    }
  });
});
