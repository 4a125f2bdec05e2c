// Job ids that sort by creation time (as UUIDv7 does): `vid_` + 12 hex digits of epoch ms + 4 of a per-process
// sequence within that ms + 16 random. Newest-first lists order by id, so a list cursor (`after=<id>`) still
// pages on after its job was cancelled, deleted or expired: the id itself says where the page ended.
import { randomBytes } from 'node:crypto';

const ID = /^vid_[0-9a-f]{32}$/;

/** A new-id function: each id sorts after every id it made before (same clock or later). */
export function timeOrderedIds(clock: () => number = Date.now): () => string {
  let lastMs = 0;
  let seq = 0;
  return () => {
    const ms = Math.max(clock(), lastMs);
    seq = ms === lastMs ? seq + 1 : 0;
    lastMs = ms;
    return `vid_${ms.toString(16).padStart(12, '0')}${(seq & 0xffff).toString(16).padStart(4, '0')}${randomBytes(8).toString('hex')}`;
  };
}

/** Whether `id` has the shape of a job id (a list cursor may name a job that is gone, but not anything). */
export const isJobId = (id: string): boolean => ID.test(id);
