// kubectl-modelrollout: a kubectl plugin (`kubectl modelrollout ...`) for people running rollouts.
// Controls are annotations on the ModelRollout, so they also work from Git: the operator acts on each
// new value once and records it in status. Spec fields stay the user's; the operator writes only status.
import { ANNOTATION_ABORT, ANNOTATION_PAUSED, ANNOTATION_PROMOTE, ANNOTATION_RESUME, ANNOTATION_RETRY, type ModelRollout } from '../api/index.js';

export const USAGE = `usage: kubectl modelrollout <command> [name] [-n namespace] [-o json|yaml]
  get              table of rollouts: phase, step, weights, replicas, latest measurements
  get <name>       one rollout in detail: step plan and bake time left, revisions with their pods,
                   measurements against bounds, breaker, golden probes, last events (-o json|yaml: the object)
  watch [name]     the same, refreshed every 2 s (Ctrl-C to stop)
  pause <name>     hold weights and replicas where they are
  resume <name>    undo pause; pass a manual gate or an analysis pause
  promote <name>   skip the rest of the current step (and pass a manual gate)
  abort <name>     send all traffic back to stable now
  retry <name>     start a rolled-back or aborted candidate again from the first step`;

export class UsageError extends Error {
  readonly code = 'Usage';
}

interface Args {
  command: string;
  name?: string;
  namespace?: string;
  allNamespaces: boolean;
  output?: 'json' | 'yaml';
}

export function parseArgs(argv: string[]): Args {
  const { rest, namespace, allNamespaces, output } = readOptions(argv);
  const [command, name] = rest;
  if (!command) throw new UsageError(USAGE);
  if (!['get', 'watch', 'pause', 'resume', 'promote', 'abort', 'retry'].includes(command)) throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  if (!['get', 'watch'].includes(command) && !name) throw new UsageError(`${command} needs the name of a ModelRollout\n${USAGE}`);
  if (output !== undefined && output !== 'json' && output !== 'yaml') throw new UsageError(`-o ${output}: the output must be json or yaml\n${USAGE}`);
  if (output !== undefined && command !== 'get') throw new UsageError(`-o is for get only\n${USAGE}`);
  return { command, name, namespace, allNamespaces, ...(output ? { output } : {}) };
}

/** Flags (-n, -A, -o, -h) out of the arguments; the rest are the command and the name. */
function readOptions(argv: string[]): { rest: string[]; namespace?: string; allNamespaces: boolean; output?: string } {
  const rest: string[] = [];
  const out: { namespace?: string; allNamespaces: boolean; output?: string } = { allNamespaces: false };
  const valued: Record<string, 'namespace' | 'output'> = { '-n': 'namespace', '--namespace': 'namespace', '-o': 'output', '--output': 'output' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = valued[flag!];
    if (key) out[key] = inline ?? argv[++i];
    else if (a === '-A' || a === '--all-namespaces') out.allNamespaces = true;
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
