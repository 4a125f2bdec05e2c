// A style names an adapter: `ink-wash` (its newest version) or `ink-wash@v2`. Pure, shared by request
// validation and the library.

export interface AdapterRef {
  name: string;
  version: number;
}

export const refText = (r: AdapterRef): string => `${r.name}@v${r.version}`;

export const NAME_PATTERN = '[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?';
const STYLE = new RegExp(`^(${NAME_PATTERN})(?:@v(\\d{1,9}))?$`);
export const STYLE_SYNTAX = '<name> or <name>@v<N> (name: lower-case letters, digits, ".", "_", "-")';

/** `ink-wash` → { name } (newest version); `ink-wash@v2` → { name, version: 2 }; anything else → undefined. */
export function parseStyle(text: string): { name: string; version?: number } | undefined {
  const m = STYLE.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { name: m[1] as string } : { name: m[1] as string, version: Number(m[2]) };
}
