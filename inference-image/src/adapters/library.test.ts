import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../errors.js';
import { AdapterLibrary } from './library.js';
import { parseStyle } from './style.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-library-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function version(dir: string, files = ['adapter_config.json', 'adapter_model.safetensors']): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(dir, f), '');
}

describe('style names', () => {
  it('parses a name, or a name and version', () => {
    expect(parseStyle('ink-wash')).toEqual({ name: 'ink-wash' });
    expect(parseStyle('ink-wash@v12')).toEqual({ name: 'ink-wash', version: 12 });
    for (const bad of ['Ink', 'ink wash', 'ink@2', 'ink@v', '-ink', 'ink@v1@v2', '']) expect(parseStyle(bad), bad).toBeUndefined();
  });
});

describe('adapter library', () => {
  const dir = path.join(root, 'lib');
  version(path.join(dir, 'ink-wash@v1'));
  version(path.join(dir, 'ink-wash@v10'));
  version(path.join(dir, 'ink-wash@v2'));
  version(path.join(dir, 'neon', 'v1'));
  version(path.join(dir, 'half@v1'), ['adapter_config.json']); // still being copied
  version(path.join(dir, '.tmp-x@v1'));

  it('lists both layouts, versions in numeric order, and leaves out incomplete ones', async () => {
    const found: string[] = [];
    const lib = new AdapterLibrary(dir, (r) => found.push(`${r.name}@v${r.version}`));
    await lib.scan();
    expect(lib.list()).toEqual([
      { name: 'ink-wash', versions: [1, 2, 10] },
      { name: 'neon', versions: [1] },
    ]);
    expect(found.sort()).toEqual(['ink-wash@v1', 'ink-wash@v10', 'ink-wash@v2', 'neon@v1']);
    expect(lib.dirOf({ name: 'neon', version: 1 })).toBe(path.join(dir, 'neon', 'v1'));
    await lib.scan();
    expect(found).toHaveLength(4); // told once per version
  });

  it('resolves a name to its newest version, and finds a version published after the last scan', async () => {
    const lib = new AdapterLibrary(dir);
    await lib.scan();
    expect(await lib.resolve('ink-wash')).toEqual({ name: 'ink-wash', version: 10 });
    expect(await lib.resolve('neon@v1')).toEqual({ name: 'neon', version: 1 });
    version(path.join(dir, 'neon@v2'));
    expect(await lib.resolve('neon@v2')).toEqual({ name: 'neon', version: 2 });
  });

  it('refuses unknown names and versions naming the field, with what there is', async () => {
    const lib = new AdapterLibrary(dir);
    await lib.scan();
    const refusal = async (style: string, field?: string): Promise<ValidationError> =>
      lib.resolve(style, field).then(
        () => {
          throw new Error('resolved');
        },
        (e: ValidationError) => e,
      );
    expect((await refusal('oil')).problems[0]).toMatchObject({
      field: 'style',
      message: 'style oil: no adapter named oil in the library',
      allowed: { styles: ['ink-wash', 'neon'] },
    });
    expect((await refusal('neon@v7', 'adapter')).problems[0]).toMatchObject({ field: 'adapter', allowed: { versions: ['neon@v1', 'neon@v2'] } });
    expect((await refusal('Neon')).problems[0]?.message).toMatch(/must be <name> or <name>@v<N>/);
  });

  it('makes a missing library directory a configuration error', async () => {
    await expect(new AdapterLibrary(path.join(root, 'absent')).scan()).rejects.toBeInstanceOf(ConfigError);
  });
});
