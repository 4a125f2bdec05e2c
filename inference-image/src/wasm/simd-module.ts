// Loads one of the runtime's small WebAssembly SIMD modules (rgb24.wat, ssim-columns.wat; bytes embedded by
// `npm run build:wasm`). The TypeScript lib here has no WebAssembly values (no DOM lib), so the few members used
// are typed below.

/** A module's linear memory: its buffer is replaced (the old one detached) by grow, so views are made after it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** An instance's memory and exported functions (numbers in, a number or nothing out). */
export interface SimdInstance {
  memory: WasmMemory;
  fn(name: string): (...args: number[]) => number;
}

interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/**
 * Compiles and instantiates a module from its base64 bytes, synchronously (the modules are ~1 KB). Returns null
 * where the engine refuses it (no WebAssembly, or no SIMD: Node has both since 16.4): callers fall back to
 * their JavaScript loop.
 */
function loadSimdModule(base64: string): SimdInstance | null {
  const api = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (!api) return null;
  try {
    const { exports } = new api.Instance(new api.Module(Buffer.from(base64, 'base64')));
    return {
      memory: exports.memory as WasmMemory,
      fn(name) {
        const f = exports[name];
        if (typeof f !== 'function') throw new Error(`WebAssembly module has no function ${name}`);
        return f as (...args: number[]) => number;
      },
    };
  } catch {
    return null;
  }
}

/** Grows `memory` to at least `bytes` (64 KiB pages). */
export function ensureMemory(memory: WasmMemory, bytes: number): void {
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
}

/**
 * `build` over the module loaded once, on first call: its result (the wrapper a caller uses), or null from then on
 * where the module does not load.
 */
export function lazySimdModule<T>(base64: string, build: (instance: SimdInstance) => T): () => T | null {
  let made: T | null | undefined;
  return () => {
    if (made === undefined) {
      const instance = loadSimdModule(base64);
      made = instance ? build(instance) : null;
    }
    return made;
  };
}
