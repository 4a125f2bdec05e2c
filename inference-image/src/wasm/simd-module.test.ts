import { afterEach, describe, expect, it, vi } from 'vitest';
import { RGB24_WASM_BASE64 } from '../pipeline/rgb24-wasm.js';
import { lazySimdModule, simdFallbacks } from './simd-module.js';

describe('lazySimdModule', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    simdFallbacks.delete('test');
  });

  it('is not used, and says why, where its result differs from the JavaScript reference', () => {
    const agrees = vi.fn(() => false);
    const get = lazySimdModule('test', RGB24_WASM_BASE64, ({ fn }) => fn('convert'), agrees);
    expect(get()).toBeNull();
    expect(get()).toBeNull();
    expect(agrees).toHaveBeenCalledTimes(1);
    expect(simdFallbacks.get('test')).toMatch(/differs from the JavaScript reference/);
  });

  it('is not used, and says why, where the engine has no WebAssembly', () => {
    vi.stubGlobal('WebAssembly', undefined);
    expect(
      lazySimdModule(
        'test',
        RGB24_WASM_BASE64,
        ({ fn }) => fn('convert'),
        () => true,
      )(),
    ).toBeNull();
    expect(simdFallbacks.get('test')).toBe('this engine has no WebAssembly');
  });

  it('is used where it loads and agrees', () => {
    expect(
      typeof lazySimdModule(
        'test',
        RGB24_WASM_BASE64,
        ({ fn }) => fn('convert'),
        () => true,
      )(),
    ).toBe('function');
    expect(simdFallbacks.has('test')).toBe(false);
  });
});
