// kubectl-modelrollout: a kubectl plugin (`kubectl modelrollout ...`) for people running rollouts.
// Controls are annotations on the ModelRollout, so they also work from Git: the operator acts on each
// new value once and records it in status. Spec fields stay the user's; the operator writes only status.
import { ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_PROMOTE, ANNOTATION_RESUME, ANNOTATION_RETRY, type ModelRollout } from '../api/index.js';

export const USAGE = `usage: kubectl modelrollout <command> [name] [-n namespace] [-o json|yaml]
       kubectl modelrollout dashboard [-n namespace] [--port 0] [--address 127.0.0.1] [--write]
  get              table of rollouts: phase, step, weights, replicas, latest measurements
  get <name>       one rollout in detail: step plan and bake time left, revisions with their pods,
                   measurements against bounds, breaker, golden probes, last events (-o json|yaml: the object)
  watch [name]     the same, refreshed every 2 s (Ctrl-C to stop)
  pause <name>     hold weights and replicas where they are
  resume <name>    undo pause; pass a manual gate or an analysis pause
  promote <name>   skip the rest of the current step (and pass a manual gate)
  abort <name>     send all traffic back to stable now
  retry <name>     start a rolled-back or aborted candidate again from the first step
  dashboard        a web page of the namespace's rollouts, live: weights over time, ready replicas, measurements
                   against bounds, events, experiment results; serves on 127.0.0.1 (--address) on a free port (or
                   --port) and prints its URL. Read-only unless --write, which adds the controls above. It answers
                   only to localhost and IP addresses (a Host check against DNS rebinding), on any --address`;

export class UsageError extends Error {
  readonly code = 'Usage';
}

interface Args {
  command: string;
  name?: string;
  namespace?: string;
  allNamespaces: boolean;
  output?: 'json' | 'yaml';
  /** dashboard only. */
  port?: number;
  address?: string;
  write?: boolean;
}

const COMMANDS = ['get', 'watch', 'pause', 'resume', 'promote', 'abort', 'retry', 'dashboard'];

export function parseArgs(argv: string[]): Args {
  const { rest, namespace, allNamespaces, output, ...dashboard } = readOptions(argv);
  const [command, name] = rest;
  if (!command) throw new UsageError(USAGE);
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  if (command === 'dashboard') return { command, namespace, allNamespaces, ...dashboardOptions(rest, allNamespaces, output, dashboard) };
  const flag = Object.keys(dashboard)[0];
  if (flag) throw new UsageError(`--${flag} is for dashboard only\n${USAGE}`);
  if (!['get', 'watch'].includes(command) && !name) throw new UsageError(`${command} needs the name of a ModelRollout\n${USAGE}`);
  if (output !== undefined && output !== 'json' && output !== 'yaml') throw new UsageError(`-o ${output}: the output must be json or yaml\n${USAGE}`);
  if (output !== undefined && command !== 'get') throw new UsageError(`-o is for get only\n${USAGE}`);
  return { command, name, namespace, allNamespaces, ...(output ? { output } : {}) };
}

/** The dashboard's flags checked: a port 0–65535, an address, no name, no -A or -o (it shows one namespace). */
function dashboardOptions(
  rest: string[],
  allNamespaces: boolean,
  output: string | undefined,
  o: { port?: string; address?: string; write?: boolean },
): { port: number; address: string; write: boolean } {
  if (rest.length > 1) throw new UsageError(`dashboard takes no name (got "${rest[1]}"): it shows every rollout of the namespace\n${USAGE}`);
  if (allNamespaces) throw new UsageError(`dashboard shows one namespace: use -n <namespace>, not -A\n${USAGE}`);
  if (output !== undefined) throw new UsageError(`-o is for get only\n${USAGE}`);
  const port = o.port === undefined ? 0 : Number(o.port);
  if (o.port !== undefined && (!/^\d+$/.test(o.port) || port > 65535))
    throw new UsageError(`--port ${o.port}: the port must be a whole number from 0 to 65535 (0: any free port)\n${USAGE}`);
  if (o.address !== undefined && !/^[0-9A-Za-z.:-]+$/.test(o.address))
    throw new UsageError(`--address ${o.address}: give an IP address or host name to listen on, e.g. 127.0.0.1\n${USAGE}`);
  return { port, address: o.address ?? '127.0.0.1', write: o.write ?? false };
}

interface Options {
  namespace?: string;
  allNamespaces: boolean;
  output?: string;
  port?: string;
  address?: string;
  write?: boolean;
}

/** Flags (-n, -A, -o, -h, and the dashboard's) out of the arguments; the rest are the command and the name. */
function readOptions(argv: string[]): Options & { rest: string[] } {
  const rest: string[] = [];
  const out: Options = { allNamespaces: false };
  const valued: Record<string, 'namespace' | 'output' | 'port' | 'address'> = {
    '-n': 'namespace',
    '--namespace': 'namespace',
    '-o': 'output',
    '--output': 'output',
    '--port': 'port',
    '--address': 'address',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = valued[flag!];
    if (key) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value\n${USAGE}`);
      out[key] = value;
    } else if (a === '-A' || a === '--all-namespaces') out.allNamespaces = true;
    else if (a === '--write') out.write = true;
    else if (a === '-h' || a === '--help') throw new UsageError(USAGE);
    else rest.push(a);
  }
  return { rest, ...out };
}

/** The annotations each control sets (null removes). Tokens are timestamps: each new value acts once. */
export function annotationsFor(command: string, now: Date): Record<string, string | null> {
  const token = now.toISOString();
  switch (command) {
    case 'pause':
      return { [ANNOTATION_PAUSED]: 'true' };
    case 'resume':
      return { [ANNOTATION_PAUSED]: null, [ANNOTATION_RESUME]: token };
    case 'promote':
      return { [ANNOTATION_PAUSED]: null, [ANNOTATION_PROMOTE]: token };
    case 'abort':
      return { [ANNOTATION_ABORT]: token };
    case 'retry':
      return { [ANNOTATION_PAUSED]: null, [ANNOTATION_RETRY]: token };
    default:
      throw new UsageError(`not a control: ${command}`);
  }
}

export function table(rollouts: ModelRollout[], showNamespace: boolean): string {
  const rows = rollouts.map((ro) => {
    const s = ro.status ?? {};
    const measurements = (s.analysis?.metrics ?? [])
      .map((m) => `${m.name}=${m.value === undefined ? m.verdict : +m.value.toPrecision(3)}${m.verdict === 'pass' ? '' : `(${m.verdict})`}`)
      .join(' ');
    return [
      ...(showNamespace ? [ro.metadata.namespace ?? ''] : []),
      ro.metadata.name ?? '',
      s.phase ?? '-',
      s.currentStep?.label ?? '-',
      s.weights ? `${s.weights.stable}/${s.weights.candidate}${s.weights.mirrorPercent ? ` (mirror ${s.weights.mirrorPercent})` : ''}` : '-',
      s.replicas ? `${s.replicas.stable.ready}/${s.replicas.stable.desired} | ${s.replicas.candidate.ready}/${s.replicas.candidate.desired}` : '-',
      s.stable?.modelVersion ?? '-',
      s.candidate?.modelVersion ?? '-',
      measurements || (s.failure ? `${s.failure.reason}: ${s.failure.message}` : (s.message ?? '')),
    ];
  });
  const header = [
    ...(showNamespace ? ['NAMESPACE'] : []),
    'NAME',
    'PHASE',
    'STEP',
    'WEIGHTS (S/C)',
    'READY (S | C)',
    'STABLE',
    'CANDIDATE',
    'MEASUREMENTS / MESSAGE',
  ];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
