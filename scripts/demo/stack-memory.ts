// Resident memory of the whole local stack: this process and every process it started, directly or not
// (control plane, kwok, Prometheus, Traefik, the operator, one inference runtime per pod), from /proc.
import fs from 'node:fs';

export interface StackMemory {
  totalBytes: number;
  /** Resident bytes and process count per part (etcd, kube-apiserver, …, operator, runtime). */
  parts: Map<string, { bytes: number; count: number }>;
}

function readProc(pid: string, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** What a process is, for the breakdown: node processes by the script they run, the rest by executable name. */
function partOf(pid: string, self: number): string {
  if (Number(pid) === self) return 'demo (load generator, pod runner)';
  const cmd = (readProc(pid, 'cmdline') ?? '').split('\0');
  if (cmd.some((a) => a.endsWith('operator/src/main.ts'))) return 'operator';
  if (cmd.some((a) => a.endsWith('inference-image/src/main.ts'))) return 'inference runtime (pods)';
  const exe = (cmd[0] ?? '').split('/').pop() ?? '';
  if (/^traefik/.test(exe)) return 'traefik (gateway proxy)';
  if (/^kwok/.test(exe)) return 'kwok';
  return exe || (readProc(pid, 'comm') ?? '?').trim();
}

export function stackMemory(root = process.pid): StackMemory {
  const children = new Map<number, string[]>();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const stat = readProc(pid, 'stat');
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const parts = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  const queue = [String(root)];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    queue.push(...(children.get(Number(pid)) ?? []));
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readProc(pid, 'status') ?? '')?.[1] ?? 0);
    if (kb === 0) continue;
    const part = partOf(pid, root);
    const p = parts.get(part) ?? { bytes: 0, count: 0 };
    p.bytes += kb * 1024;
    p.count++;
    parts.set(part, p);
    totalBytes += kb * 1024;
  }
  return { totalBytes, parts };
}

export function formatStackMemory(m: StackMemory): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const parts = [...m.parts.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([name, p]) => `${name}${p.count > 1 ? ` ×${p.count}` : ''} ${mib(p.bytes)}`);
  return `${mib(m.totalBytes)} (${parts.join(', ')})`;
}
