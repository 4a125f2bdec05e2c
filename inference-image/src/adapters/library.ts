// The adapter library: a directory of immutable versions, `<name>@v<N>/` or `<name>/v<N>/`, each holding a
// PEFT adapter. A version is never rewritten, so a loaded one is never re-read; publish a new version by
// writing it elsewhere and renaming it in (a half-copied directory without both files is not listed).
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ValidationError } from '../errors.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from './peft.js';
import { NAME_PATTERN, parseStyle, refText, STYLE_SYNTAX, type AdapterRef } from './style.js';

const VERSION_DIR = /^v(\d{1,9})$/;
const NAME_ONLY = new RegExp(`^${NAME_PATTERN}$`);

export interface AdapterListing {
  name: string;
  /** Ascending. */
  versions: number[];
}

export class AdapterLibrary {
  /** ref text → its directory, from the last scan. */
  private dirs = new Map<string, string>();
  private versions = new Map<string, number[]>();

  /** `onFound` is told each version the first time a scan finds it (metrics write its zero samples then). */
  constructor(
    readonly dir: string,
    private readonly onFound: (ref: AdapterRef) => void = () => undefined,
  ) {}

  /** Re-reads the directory. A missing library directory is a configuration error. */
  async scan(): Promise<void> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.dir);
    } catch (cause) {
      throw new ConfigError(`T2V_ADAPTER_DIR=${this.dir}: cannot read the adapter library (${(cause as Error).message})`, { cause });
    }
    const dirs = new Map<string, string>();
    const add = async (name: string, version: number, dir: string): Promise<void> => {
      if (await complete(dir)) dirs.set(refText({ name, version }), dir);
    };
    for (const entry of entries.sort()) {
      const flat = parseStyle(entry);
      if (flat?.version !== undefined) await add(flat.name, flat.version, path.join(this.dir, entry));
      else if (NAME_ONLY.test(entry)) {
        const inner = await fs.readdir(path.join(this.dir, entry)).catch(() => [] as string[]);
        for (const v of inner) {
          const m = VERSION_DIR.exec(v);
          if (m) await add(entry, Number(m[1]), path.join(this.dir, entry, v));
        }
      }
    }
    for (const text of dirs.keys()) if (!this.dirs.has(text)) this.onFound(parseStyle(text) as AdapterRef);
    this.dirs = dirs;
    this.versions = new Map();
    for (const text of dirs.keys()) {
      const ref = parseStyle(text) as AdapterRef;
      this.versions.set(
        ref.name,
        [...(this.versions.get(ref.name) ?? []), ref.version].sort((a, b) => a - b),
      );
    }
  }

  list(): AdapterListing[] {
    return [...this.versions].map(([name, versions]) => ({ name, versions })).sort((a, b) => a.name.localeCompare(b.name));
  }

  dirOf(ref: AdapterRef): string | undefined {
    return this.dirs.get(refText(ref));
  }

  /**
   * The version a style names (the newest one known when it names none). A miss rescans once, so a
   * version published since the last scan is found without a restart. `field` is what refusals name.
   */
  async resolve(style: string, field = 'style'): Promise<AdapterRef> {
    const wanted = parseStyle(style);
    const refuse = (message: string, allowed: Record<string, unknown>): ValidationError =>
      new ValidationError([{ field, message: `${field} ${message}`, allowed: { syntax: STYLE_SYNTAX, ...allowed }, value: style }]);
    if (!wanted) throw refuse(`must be ${STYLE_SYNTAX} (got ${JSON.stringify(style)})`, {});
    const found = this.find(wanted);
    if (found) return found;
    await this.scan();
    const again = this.find(wanted);
    if (again) return again;
    const versions = this.versions.get(wanted.name);
    if (!versions) throw refuse(`${style}: no adapter named ${wanted.name} in the library`, { styles: this.list().map((l) => l.name) });
    throw refuse(`${style}: no version v${wanted.version} of ${wanted.name}`, { versions: versions.map((v) => refText({ name: wanted.name, version: v })) });
  }

  private find(wanted: { name: string; version?: number }): AdapterRef | undefined {
    const versions = this.versions.get(wanted.name);
    if (!versions) return undefined;
    const version = wanted.version ?? versions[versions.length - 1];
    return version !== undefined && versions.includes(version) ? { name: wanted.name, version } : undefined;
  }
}

async function complete(dir: string): Promise<boolean> {
  const has = (f: string): Promise<boolean> =>
    fs.stat(path.join(dir, f)).then(
      (s) => s.isFile(),
      () => false,
    );
  return (await has(ADAPTER_CONFIG_FILE)) && (await has(ADAPTER_WEIGHTS_FILE));
}
