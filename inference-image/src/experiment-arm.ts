// The A/B experiment arm of a request (issue #16). The route that splits an experiment's traffic sets
// X-ModelRollout-Arm on each request; the runtime labels its per-request series (requests, durations, quality,
// GPU-seconds, video-seconds) `arm` with it, so the operator compares treatment and control through Prometheus.
// The operator imports these names from here: one home for the header and its values.
import type { IncomingHttpHeaders } from 'node:http';
import { ValidationError } from './errors.js';

/** The request header naming the arm. Header names are case-insensitive (RFC 9110 §5.1); Node lower-cases them. */
export const ARM_HEADER = 'X-ModelRollout-Arm';
/**
 * Every value of the header and of the `arm` label, exactly as written (lower-case). `none` first: the series of
 * traffic in no experiment, most of it, comes first in /metrics.
 */
export const ARMS = ['none', 'treatment', 'control'] as const;
export type Arm = (typeof ARMS)[number];
/** The arm of a request without the header: in no experiment. */
export const NO_ARM: Arm = 'none';

/**
 * The arm a request's headers name: `none` when the header is absent, undefined when it is anything but exactly one
 * allowed value. Node joins a header given twice into one `a, b` string, so a repeat is refused here as a list.
 */
export function parseArm(headers: IncomingHttpHeaders): Arm | undefined {
  const value = headers[ARM_HEADER.toLowerCase()];
  if (value === undefined) return NO_ARM;
  return typeof value === 'string' && (ARMS as readonly string[]).includes(value) ? (value as Arm) : undefined;
}

/**
 * The arm of a request, or a ValidationError (400) naming the header, the value and the allowed values. A value
 * that is nearly right (`Treatment`, `treatment, control`, empty) is refused rather than counted as `none`: a
 * typo in a route's header filter would otherwise move an arm's traffic out of the comparison unseen.
 */
export function armOf(headers: IncomingHttpHeaders): Arm {
  const arm = parseArm(headers);
  if (arm !== undefined) return arm;
  const value = headers[ARM_HEADER.toLowerCase()];
  throw new ValidationError([
    {
      field: ARM_HEADER,
      message: `${ARM_HEADER} must be exactly one of ${ARMS.join(', ')}, given once (got ${JSON.stringify(value)}${hint(value)}); omit it for ${NO_ARM}`,
      allowed: { values: [...ARMS], absent: NO_ARM },
      value,
    },
  ]);
}

/** Why a near miss is refused: a list, an empty value, or an arm written another way (`Treatment`). */
function hint(value: string | string[] | undefined): string {
  if (Array.isArray(value) || value?.includes(',')) return ': several values';
  if (value === '') return ': empty';
  const meant = value?.trim().toLowerCase() ?? '';
  return (ARMS as readonly string[]).includes(meant) ? `: write it ${JSON.stringify(meant)}` : '';
}
