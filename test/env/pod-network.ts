// A network namespace that holds the addresses kwok gives pods, so a real process can listen on its pod's
// IP and anything on this machine (tests, the Gateway API proxy, probes) reaches it there.
//
// Why not loopback: EndpointSlice validation refuses loopback addresses (ValidateNonSpecialIP in
// kubernetes pkg/apis/discovery/validation), so pod IPs must be ordinary unicast addresses. Why a
// namespace rather than addresses on the host's `lo`: the host's own addresses stay untouched, and
// deleting the namespace takes its veth pair and every route through it along.
//
//   root namespace                              namespace <name>
//   <podIP>/32 via <nsAddress> dev <hostIf> ──▶ <nsIf> <nsAddress>/30, `local <podIP>/32 dev lo`
//   <hostIf> <hostAddress>/30                ◀── default via <hostAddress>
//
// A `local` route per pod IP makes it bindable inside the namespace (as 127.0.0.0/8 is on `lo`) without
// an address per pod. Needs CAP_NET_ADMIN and iproute2 (`ip`) and util-linux (`nsenter`).
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { signal } from './process-group.js';

const run = promisify(execFile);

export interface PodNetwork {
  /** The namespace's name (`ip netns list`). */
  name: string;
  hostInterface: string;
  hostAddress: string;
  nsAddress: string;
  /** Makes `ip` bindable in the namespace and routes it there from the root namespace (idempotent). */
  addPodIp(ip: string): Promise<void>;
  /** Undoes addPodIp (a missing route is not an error). */
  removePodIp(ip: string): Promise<void>;
  /** `command args` run inside the namespace: nsenter execs it, so the PID is the command's own. */
  wrap(command: string, args: string[]): { command: string; args: string[] };
  /** Deletes the namespace (its veth pair and routes go with it). */
  close(): Promise<void>;
}

export class PodNetworkError extends Error {
  readonly code = 'PodNetworkUnavailable';
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PodNetworkError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/**
 * Creates a fresh namespace and veth pair, with a /30 transfer net from 169.254.64.0/18 that no address
 * on this machine uses yet. A detached watchdog deletes the namespace if this Node process dies first.
 */
export async function createPodNetwork(): Promise<PodNetwork> {
  const id = crypto.randomBytes(3).toString('hex');
  const name = `modelrollout-pods-${id}`;
  const hostInterface = `mrp${id}h`;
  const nsInterface = `mrp${id}n`;
  const [hostAddress, nsAddress] = await freeTransferNet();
  await ip(['netns', 'add', name]);
  const watchdog = spawn('bash', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ip netns del ${name} 2>/dev/null; exit 0`], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();
  const close = async () => {
    if (watchdog.pid !== undefined) signal(watchdog.pid, 'SIGKILL');
    await ip(['netns', 'del', name]).catch(() => undefined);
    // The veth pair goes with the namespace once its last process exits; remove our end at once anyway.
    await ip(['link', 'del', hostInterface]).catch(() => undefined);
  };
  try {
    await ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface]);
    await ip(['link', 'set', nsInterface, 'netns', name]);
    await ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    await ip(['link', 'set', hostInterface, 'up']);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    await ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface]);
    await ip(['-n', name, 'link', 'set', nsInterface, 'up']);
    await ip(['-n', name, 'route', 'add', 'default', 'via', hostAddress]);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    name,
    hostInterface,
    hostAddress,
    nsAddress,
    async addPodIp(podIp) {
      await ip(['-n', name, 'route', 'replace', 'local', `${podIp}/32`, 'dev', 'lo']);
      await ip(['route', 'replace', `${podIp}/32`, 'via', nsAddress, 'dev', hostInterface]);
    },
    async removePodIp(podIp) {
      await ip(['route', 'del', `${podIp}/32`, 'via', nsAddress, 'dev', hostInterface]).catch(() => undefined);
      await ip(['-n', name, 'route', 'del', 'local', `${podIp}/32`, 'dev', 'lo']).catch(() => undefined);
    },
    wrap: (command, args) => ({ command: 'nsenter', args: [`--net=/var/run/netns/${name}`, '--', command, ...args] }),
    close,
  };
}

/** [host, namespace] addresses of a /30 in 169.254.64.0/18 that no interface here has yet. */
async function freeTransferNet(): Promise<[string, string]> {
  const used = await ip(['-4', '-o', 'addr', 'show']);
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = 64 + crypto.randomInt(64);
    const base = crypto.randomInt(64) * 4;
    const net = `169.254.${third}.`;
    const host = `${net}${base + 1}`;
    const ns = `${net}${base + 2}`;
    if (!used.includes(` ${host}/`) && !used.includes(` ${ns}/`)) return [host, ns];
  }
  throw new PodNetworkError('no free /30 transfer net in 169.254.64.0/18');
}

/**
 * A /16 in 10.128.0.0/9 for kwok's `--cidr` that no route on this machine covers yet, so pod IPs of
 * control planes running side by side (other worktrees, the demo) do not collide once routed here.
 * Falls back to a random one when `ip` is not available.
 */
export async function choosePodCidr(): Promise<string> {
  const routes = await ip(['-4', 'route', 'show', 'table', 'all']).catch(() => '');
  const taken = new Set([...routes.matchAll(/\b10\.(\d+)\.\d+\.\d+/g)].map((m) => Number(m[1])));
  const free = Array.from({ length: 112 }, (_, i) => 128 + i).filter((n) => !taken.has(n));
  const second = free.length > 0 ? free[crypto.randomInt(free.length)]! : 128 + crypto.randomInt(112);
  return `10.${second}.0.0/16`;
}
