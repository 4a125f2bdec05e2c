// Sticky assignment of users to the arms of an A/B experiment by user key (#16). Pure and portable: an app or
// an edge computes the same bucket with SHA-256 (docs/experiment-assignment.md has the client function), sets
// the arm header, and the route's rules match it. The operator publishes salt and ranges (experiment-gate.ts).
//
// Why these choices:
// - SHA-256 (node:crypto, WebCrypto, hashlib: everywhere, nothing of our own) of `<salt>:<user key>` in UTF-8;
//   its first 4 bytes as an unsigned big-endian integer, modulo 10 000. 2^32 is not a multiple of 10 000, so
//   buckets below 7 296 are hit 1 + 2.3e-6 times as often as the others: far below any sample-ratio check.
// - A salt per experiment (the rollout's uid and the candidate's revision), so a user's arm in one experiment
//   says nothing about the next one (no carry-over between experiments).
// - Arms that only grow: treatment takes buckets [0, w·100) and control the same number from 5 000 up, so at
//   every step both arms are of equal size, and a user assigned at one step keeps the arm at every later one.
//   Past 50 % the two ranges would overlap: there is no equal-sized control any more (the issue: the
//   comparison is pooled only while the treatment is at most 50 %).
import { createHash } from 'node:crypto';

/** Buckets users are hashed into; a weight step of 1 % is 100 buckets. */
export const BUCKETS = 10_000;
/** Where the control arm's range starts: the upper half, so the treatment can grow to 50 % beside it. */
export const CONTROL_START = BUCKETS / 2;

/** A half-open range of buckets [from, to); empty when from === to. */
export interface BucketRange {
  from: number;
  to: number;
}

export type Arm = 'treatment' | 'control';

/**
 * The salt of one experiment: 16 hex digits of SHA-256(`<rollout uid>:<candidate revision>`). Stable for the
 * whole experiment (both are fixed while it runs), different for the next candidate.
 */
export function experimentSalt(rolloutUid: string, candidateRevision: string): string {
  return createHash('sha256').update(`${rolloutUid}:${candidateRevision}`, 'utf8').digest('hex').slice(0, 16);
}

/** The bucket, 0 … 9 999, of `userKey` in the experiment salted `salt`. Throws on an empty key (no user to assign). */
export function bucketOf(salt: string, userKey: string): number {
  if (userKey.length === 0) throw new Error('bucketOf: the user key is empty; assign such requests by cookie or leave them outside the experiment');
  const digest = createHash('sha256').update(`${salt}:${userKey}`, 'utf8').digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

/**
 * The arms' bucket ranges when the treatment (the candidate) takes `treatmentPercent` of traffic: treatment
 * [0, w·100), control [5 000, 5 000 + w·100). Above 50 % the control range is empty (no equal-sized control).
 * Throws on a weight outside [0, 100] or with more than two decimals (it would not fall on a bucket edge).
 */
export function armRanges(treatmentPercent: number): { treatment: BucketRange; control: BucketRange } {
  const buckets = Math.round(treatmentPercent * (BUCKETS / 100));
  if (!(treatmentPercent >= 0 && treatmentPercent <= 100) || Math.abs(buckets - treatmentPercent * (BUCKETS / 100)) > 1e-6)
    throw new Error(`armRanges: treatment weight ${treatmentPercent} % must be in [0, 100] with at most two decimals`);
  const control = buckets <= CONTROL_START ? { from: CONTROL_START, to: CONTROL_START + buckets } : { from: CONTROL_START, to: CONTROL_START };
  return { treatment: { from: 0, to: buckets }, control };
}

/** The arm of `bucket` at `treatmentPercent`, or undefined when the user is outside the experiment (stable, not analysed). */
export function armOf(bucket: number, treatmentPercent: number): Arm | undefined {
  const { treatment, control } = armRanges(treatmentPercent);
  if (bucket >= treatment.from && bucket < treatment.to) return 'treatment';
  if (bucket >= control.from && bucket < control.to) return 'control';
  return undefined;
}
