import { execFileSync } from 'node:child_process';

/**
 * Addresses on the `lo` interface for backends that must appear in an EndpointSlice.
 *
 * The API server rejects loopback endpoint addresses (127.0.0.0/8, ::1: `ValidateEndpointIP` in
 * kubernetes `pkg/apis/discovery/validation`), so a proxy can only be pointed at a local process through an
 * ordinary address. An address put on `lo` is one: packets to it never leave the machine. This range is
 * RFC 2544's benchmarking block (198.18.0.0/15), which no network routes. Needs CAP_NET_ADMIN (root).
 */
export const LOCAL_BACKEND_PREFIX = '198.18.15.';

export interface LocalAddresses {
  addresses: string[];
  /** Removes the addresses this call added (ones that were already there stay). */
  release(): void;
}

export function addLocalAddresses(count: number, first = 1, prefix = LOCAL_BACKEND_PREFIX): LocalAddresses {
  if (first < 1 || first + count - 1 > 254) throw new Error(`local addresses ${prefix}${first}..+${count} leave 1..254`);
  const present = new Set(listLoAddresses());
  const addresses = Array.from({ length: count }, (_, i) => `${prefix}${first + i}`);
  const added: string[] = [];
  try {
    for (const a of addresses) {
      if (present.has(a)) continue;
      execFileSync('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'], { stdio: 'pipe' });
      added.push(a);
    }
  } catch (err) {
    removeAddresses(added);
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(`could not add ${addresses.join(', ')} to lo (needs root / CAP_NET_ADMIN): ${detail}`, { cause: err });
  }
  return { addresses, release: () => removeAddresses(added) };
}

function listLoAddresses(): string[] {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
}

function removeAddresses(addresses: string[]): void {
  for (const a of addresses) {
    try {
      execFileSync('ip', ['addr', 'del', `${a}/32`, 'dev', 'lo'], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
  }
}
