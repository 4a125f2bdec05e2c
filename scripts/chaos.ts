// `npm run chaos -- --runs N --seed S [--events K] [--kinds abort,crash-loop,...] [--replicas R] [--scenario issue12-case1]`
// Seeded chaos runs against a fresh local control plane and the real operator, checking issue 12's
// invariant (traffic never outruns ready capacity) with the InvariantSampler. Run i uses seed S+i
// (S random when not given); exits 1 and lists the failing seeds, each replayable with --seed.
import { parseArgs } from 'node:util';
import { ALL_EVENT_KINDS, formatRun, runChaos, type ChaosEventKind, type ChaosRunResult } from '../test/env/chaos.js';
import { startControlPlane } from '../test/env/control-plane.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    events: { type: 'string', default: '4' },
    kinds: { type: 'string' },
    replicas: { type: 'string', default: '4' },
    scenario: { type: 'string', default: 'random' },
    'ready-delay': { type: 'string' },
  },
});

const runs = Number(values.runs);
const firstSeed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const kinds = values.kinds?.split(',').map((k) => k.trim()) as ChaosEventKind[] | undefined;
const unknown = kinds?.filter((k) => !ALL_EVENT_KINDS.includes(k));
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(firstSeed) || unknown?.length || !['random', 'issue12-case1'].includes(values.scenario)) {
  console.error(
    `usage: npm run chaos -- --runs N --seed S [--events K] [--kinds ${ALL_EVENT_KINDS.join(',')}] [--replicas R] [--scenario random|issue12-case1] [--ready-delay 20s]`,
  );
  if (unknown?.length) console.error(`unknown kinds: ${unknown.join(', ')}`);
  process.exit(2);
}

const cp = await startControlPlane({ log: (l) => console.log(`[control-plane] ${l}`) });
const results: ChaosRunResult[] = [];
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    interrupted = true;
    void cp.stop().finally(() => process.exit(130));
  });
try {
  for (let i = 0; i < runs && !interrupted; i++) {
    const seed = firstSeed + i;
    console.log(`\n=== run ${i + 1}/${runs}, seed ${seed}`);
    const result = await runChaos({
      kc: cp.kubeConfig(),
      kubeconfigPath: cp.kubeconfigPath,
      seed,
      events: Number(values.events),
      replicas: Number(values.replicas),
      scenario: values.scenario as 'random' | 'issue12-case1',
      ...(kinds ? { kinds } : {}),
      ...(values['ready-delay'] ? { readyDelay: values['ready-delay'] } : {}),
      log: (l) => console.log(l),
    });
    results.push(result);
    console.log(formatRun(result));
  }
} finally {
  await cp.stop();
}

const failed = results.filter((r) => !r.ok);
const violations = results.reduce((n, r) => n + r.report.counted.length, 0);
console.log(`\n${results.length} run(s), ${results.length - failed.length} ok, ${failed.length} failed, ${violations} counted violation(s)`);
if (failed.length > 0) {
  const flags = [`--events ${values.events}`, `--replicas ${values.replicas}`, `--scenario ${values.scenario}`];
  if (values.kinds) flags.push(`--kinds ${values.kinds}`);
  if (values['ready-delay']) flags.push(`--ready-delay ${values['ready-delay']}`);
  console.log(`failing seeds: ${failed.map((r) => r.seed).join(' ')}  (replay one: npm run chaos -- --seed <seed> ${flags.join(' ')})`);
  process.exit(1);
}
