// The runtime's WebAssembly modules: their text sources and how they become bytes (shared by build-wasm.ts and
// the drift tests next to each module).
import fs from 'node:fs';
import path from 'node:path';
import wabtInit from 'wabt';

const src = path.join(import.meta.dirname, '..', '..', 'src');

/** One module: its WebAssembly text, the generated TypeScript file that carries its bytes, and the constant's name. */
export interface WatModule {
  wat: string;
  generated: string;
  constant: string;
}

export const WAT_MODULES = {
  /** Decoder planes → rgb24 and luma (frames.ts). */
  rgb24: { wat: path.join(src, 'pipeline', 'rgb24.wat'), generated: path.join(src, 'pipeline', 'rgb24-wasm.ts'), constant: 'RGB24_WASM_BASE64' },
  /** Column sums for the tiled SSIM (ssim.ts). */
  ssimColumns: {
    wat: path.join(src, 'quality', 'ssim-columns.wat'),
    generated: path.join(src, 'quality', 'ssim-columns-wasm.ts'),
    constant: 'SSIM_COLUMNS_WASM_BASE64',
  },
} satisfies Record<string, WatModule>;

/** A module's text compiled with SIMD (validated, no debug names). Throws wabt's parse or validation error naming the line. */
export async function compileWat(module: WatModule): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(path.basename(module.wat), fs.readFileSync(module.wat, 'utf8'), { simd: true });
  try {
    mod.validate();
    return mod.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}
