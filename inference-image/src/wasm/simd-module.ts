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

/** The linear memories of the modules loaded here (simdMemoryBytes). */
const memories = new Set<WasmMemory>();

/**
 * Compiles and instantiates a module from its base64 bytes, synchronously (the modules are ~1 KB). Returns why not
 * where the engine refuses it (no WebAssembly, or no SIMD: Node has both since 16.4): callers fall back to
 * their JavaScript loop.
 */
function loadSimdModule(base64: string): SimdInstance | string {
  const api = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (!api) return 'this engine has no WebAssembly';
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
  } catch (err) {
    return `the engine refuses the module: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Grows `memory` to at least `bytes` (64 KiB pages). */
export function ensureMemory(memory: WasmMemory, bytes: number): void {
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
}

/** Why a module is not used (its callers compute in JavaScript): set when it was tried and refused. */
export const simdFallbacks = new Map<string, string>();

/**
 * `build` over the module loaded once, on first call: its result (the wrapper a caller uses), or null from then on
 * where the module does not load or `agrees` finds that it computes something else than the JavaScript reference
 * on a known input (an engine's SIMD code generation differs: seen with V8's SSSE3-only code path, whose
 * i32x4.extract_lane 3 read lane 0). The reason goes into simdFallbacks under `name`.
 */
export function lazySimdModule<T>(name: string, base64: string, build: (instance: SimdInstance) => T, agrees: (made: T) => boolean): () => T | null {
  let made: T | null | undefined;
  return () => {
    if (made === undefined) {
      const instance = loadSimdModule(base64);
      made = typeof instance === 'string' ? null : build(instance);
      if (typeof instance === 'string') simdFallbacks.set(name, instance);
      else if (made !== null && !agrees(made)) {
        made = null;
        simdFallbacks.set(name, 'its result differs from the JavaScript reference on a known input (engine code generation)');
      } else memories.add(instance.memory);
    }
    return made;
  };
}

/** Bytes of linear memory the modules in use hold (they never give memory back, so the modules keep it bounded). */
export function simdMemoryBytes(): number {
  let bytes = 0;
  for (const m of memories) bytes += m.buffer.byteLength;
  return bytes;
}
