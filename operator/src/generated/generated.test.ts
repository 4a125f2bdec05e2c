// The committed CRD types must be exactly what crd-generate makes of crds/ today.
import { expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { differences, generate } from '../../../scripts/generate-types.mjs';

it('operator/src/generated matches crds/ (run `npm run generate` after changing a CRD)', () => {
  const diffs = (differences as (f: Map<string, string>) => string[])((generate as () => Map<string, string>)());
  expect(diffs).toEqual([]);
}, 60_000);
