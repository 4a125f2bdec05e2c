import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { ARM_HEADER, ARMS, armOf, parseArm } from './experiment-arm.js';

/** The 400 armOf throws for a header value (Node hands headers over lower-cased by name). */
function refusal(value: string | string[]): ValidationError {
  try {
    armOf({ 'x-modelrollout-arm': value });
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

describe('X-ModelRollout-Arm', () => {
  it('names the header and the three arms once, for the runtime and the operator', () => {
    expect(ARM_HEADER).toBe('X-ModelRollout-Arm');
    expect([...ARMS].sort()).toEqual(['control', 'none', 'treatment']);
  });

  it('accepts each arm exactly as written, and reads no header as none', () => {
    for (const arm of ARMS) expect(armOf({ 'x-modelrollout-arm': arm })).toBe(arm);
    expect(armOf({})).toBe('none');
    expect(armOf({ 'x-modelrollout-probe': 'golden' })).toBe('none');
  });

  it.each([
    ['empty', '', 'empty'],
    ['another case', 'Treatment', 'write it "treatment"'],
    ['upper case', 'NONE', 'write it "none"'],
    ['a list', 'treatment, control', 'several values'],
    ['the header twice (Node joins them)', 'control, control', 'several values'],
    ['the header twice (as an array)', ['treatment', 'treatment'], 'several values'],
    ['an unknown arm', 'stable', undefined],
    ['a boolean', 'true', undefined],
    ['surrounding spaces (HTTP trims them; a direct caller may not)', ' control', 'write it "control"'],
  ] as const)('refuses %s with a 400 naming the header, the value and the allowed values', (_, value, why) => {
    const err = refusal(value as string | string[]);
    expect(err.httpStatus).toBe(400);
    expect(err.code).toBe('InvalidRequest');
    expect(err.field).toBe('X-ModelRollout-Arm');
    expect(err.problems[0]).toMatchObject({ allowed: { values: [...ARMS], absent: 'none' }, value });
    expect(err.message).toContain('X-ModelRollout-Arm');
    expect(err.message).toContain(JSON.stringify(value));
    for (const arm of ARMS) expect(err.message).toContain(arm);
    if (why) expect(err.message).toContain(why);
  });

  it('parseArm tells a bad value (undefined) from an absent header (none), for counting a refusal', () => {
    expect(parseArm({})).toBe('none');
    expect(parseArm({ 'x-modelrollout-arm': 'control' })).toBe('control');
    expect(parseArm({ 'x-modelrollout-arm': 'Control' })).toBeUndefined();
    expect(parseArm({ 'x-modelrollout-arm': ['control'] })).toBeUndefined();
  });
});
