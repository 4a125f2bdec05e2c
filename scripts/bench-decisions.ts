// npm run bench:decisions — how often an A/B decision rule is wrong when someone looks at every analysis
// interval, and how many users it needs. Simulated experiments (seeded, reproducible), each monitored at every
// look until a decision or the horizon:
//   - naive:  a fixed-horizon test (z or Welch) repeated at every look, stopping at the first p < α
//             (what a dashboard watcher does; its false-positive rate inflates with the looks);
//   - fixed:  the same test once, at the planned horizon only (valid, but no early stop);
//   - mSPRT:  always-valid p-values (operator/src/analysis/experiment-stats.ts), stopping at the first p ≤ α;
//             "mSPRT 2×" may go on to twice the horizon (the price of looking at will is a longer worst case);
//   - GS OBF / GS Pocock: group-sequential, 5 equally spaced looks (the step plan's), two-sided |z| against Lan–DeMets
//             boundaries (operator/src/analysis/group-sequential.ts) spending α/2 each side.
// Metrics: Bernoulli playback completion (control 30 %, MDE +3 points) and log-normal generation latency
// (σ = 0.5, MDE +5 % of the mean). Under no effect the rejection rate is the false-positive rate (must stay
// ≤ α for fixed and mSPRT); at the MDE it is the power; "users to decision" is the mean users per arm at the stop.
// The horizon of each metric is the fixed-horizon test's sample size for 80 % power at its MDE, split into
// --looks equal looks. Flags: --runs 2000 --looks 40 --alpha 0.05 --seed 1
import { parseArgs } from 'node:util';
import {
  alwaysValidP,
  powerAt,
  tau2ForMde,
  twoProportionZ,
  unitsPerArmFor,
  welchT,
  type MomentArm,
  type ProportionArm,
} from '../operator/src/analysis/experiment-stats.js';
import { seededRandom } from '../operator/src/analysis/breaker-simulation.test-support.js';
import { groupSequentialBounds } from '../operator/src/analysis/group-sequential.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    looks: { type: 'string', default: '40' },
    alpha: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '1' },
  },
});
const RUNS = Number(values.runs);
const LOOKS = Number(values.looks);
const ALPHA = Number(values.alpha);
/** Users per arm per look of the metric being simulated (set per metric from its planned sample size). */
let PER_LOOK = 0;

interface Outcome {
  rejected: boolean;
  users: number;
}

type Rule = 'naive' | 'fixed' | 'mSPRT' | 'mSPRT 2×' | 'GS OBF' | 'GS Pocock';
const RULES: Rule[] = ['naive', 'fixed', 'mSPRT', 'mSPRT 2×', 'GS OBF', 'GS Pocock'];
/** Group-sequential looks: 5, equally spaced over the horizon (looks LOOKS/5, 2·LOOKS/5, …). */
const GS_LOOKS = 5;
const GS_FRACTIONS = Array.from({ length: GS_LOOKS }, (_, k) => (k + 1) / GS_LOOKS);
const GS_BOUNDS = {
  'GS OBF': groupSequentialBounds(GS_FRACTIONS, ALPHA / 2, 'obrienFleming'),
  'GS Pocock': groupSequentialBounds(GS_FRACTIONS, ALPHA / 2, 'pocock'),
} as const;

interface Scenario {
  name: string;
  mde: number;
  /** One user's variance in either arm (for the planned sample size). */
  unitVariance: number;
  /** One simulated experiment: per look, the p-values each rule sees. */
  run(random: () => number, effect: boolean): Record<Rule, Outcome>;
}

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Monitors one experiment: `look(i)` returns the fixed-horizon comparison's effect, SE and p after look i. */
function monitor(mde: number, look: (i: number) => { effect: number; se: number; p: number }): Record<Rule, Outcome> {
  const tau2 = tau2ForMde(mde);
  let avp = 1;
  const out: Partial<Record<Rule, Outcome>> = {};
  for (let i = 1; i <= 2 * LOOKS; i++) {
    const { effect, se, p } = look(i);
    const users = i * PER_LOOK;
    avp = alwaysValidP(avp, effect, se * se, tau2);
    if (i <= LOOKS) {
      if (!out.naive && p < ALPHA) out.naive = { rejected: true, users };
      if (!out.mSPRT && avp <= ALPHA) out.mSPRT = { rejected: true, users };
      if (i === LOOKS) out.fixed = { rejected: p < ALPHA, users };
      const k = (i * GS_LOOKS) / LOOKS;
      if (Number.isInteger(k))
        for (const rule of ['GS OBF', 'GS Pocock'] as const)
          if (!out[rule] && (Math.abs(effect / se) >= GS_BOUNDS[rule][k - 1]! || k === GS_LOOKS))
            out[rule] = { rejected: Math.abs(effect / se) >= GS_BOUNDS[rule][k - 1]!, users };
    }
    if (!out['mSPRT 2×'] && avp <= ALPHA) out['mSPRT 2×'] = { rejected: true, users };
    if (out.naive && out.fixed && out['mSPRT 2×'] && out['GS OBF'] && out['GS Pocock']) break;
  }
  const full = { rejected: false, users: LOOKS * PER_LOOK };
  return {
    naive: out.naive ?? full,
    fixed: out.fixed ?? full,
    mSPRT: out.mSPRT ?? full,
    'mSPRT 2×': out['mSPRT 2×'] ?? { rejected: false, users: 2 * LOOKS * PER_LOOK },
    'GS OBF': out['GS OBF'] ?? full,
    'GS Pocock': out['GS Pocock'] ?? full,
  };
}

const completion: Scenario = {
  name: 'playback completion (Bernoulli, 30 %, MDE +3 points)',
  mde: 0.03,
  unitVariance: 0.3 * 0.7,
  run(random, effect) {
    const c: ProportionArm = { n: 0, events: 0 };
    const t: ProportionArm = { n: 0, events: 0 };
    const pt = 0.3 + (effect ? this.mde : 0);
    return monitor(this.mde, () => {
      for (let k = 0; k < PER_LOOK; k++) {
        c.n++;
        t.n++;
        if (random() < 0.3) c.events++;
        if (random() < pt) t.events++;
      }
      const r = twoProportionZ(c, t, ALPHA);
      return { effect: r.effect, se: r.se, p: r.pValue };
    });
  },
};

const SIGMA = 0.5;
const MEAN = Math.exp((SIGMA * SIGMA) / 2);
const latency: Scenario = {
  name: 'generation latency (log-normal σ 0.5, MDE +5 % of the mean)',
  mde: 0.05 * MEAN,
  unitVariance: MEAN * MEAN * (Math.exp(SIGMA * SIGMA) - 1),
  run(random, effect) {
    const c: MomentArm = { n: 0, sum: 0, sumSq: 0 };
    const t: MomentArm = { n: 0, sum: 0, sumSq: 0 };
    const scale = effect ? 1.05 : 1;
    return monitor(this.mde, () => {
      for (let k = 0; k < PER_LOOK; k++) {
        const x = Math.exp(SIGMA * gaussian(random));
        const y = scale * Math.exp(SIGMA * gaussian(random));
        c.n++;
        c.sum += x;
        c.sumSq += x * x;
        t.n++;
        t.sum += y;
        t.sumSq += y * y;
      }
      const r = welchT(c, t, ALPHA);
      return { effect: r.effect, se: r.se, p: r.pValue };
    });
  },
};

function summarise(s: Scenario, effect: boolean, seed: number): Record<Rule, { rate: number; users: number }> {
  const random = seededRandom(seed);
  const tally = Object.fromEntries(RULES.map((r) => [r, { rejected: 0, users: 0 }])) as Record<Rule, { rejected: number; users: number }>;
  for (let r = 0; r < RUNS; r++) {
    const o = s.run(random, effect);
    for (const rule of RULES) {
      tally[rule].rejected += o[rule].rejected ? 1 : 0;
      tally[rule].users += o[rule].users;
    }
  }
  return Object.fromEntries(RULES.map((rule) => [rule, { rate: tally[rule].rejected / RUNS, users: tally[rule].users / RUNS }])) as Record<
    Rule,
    { rate: number; users: number }
  >;
}

const started = Date.now();
console.log(`bench:decisions — ${RUNS} simulated experiments per row, ${LOOKS} looks each, α = ${ALPHA}, seed ${values.seed}`);
// 95 % binomial margin of a rate near α over RUNS runs, so "≤ α" is read with its noise.
const margin = 1.96 * Math.sqrt((ALPHA * (1 - ALPHA)) / RUNS);
for (const s of [completion, latency]) {
  PER_LOOK = Math.ceil(unitsPerArmFor(s.mde, s.unitVariance, ALPHA, 0.8) / LOOKS);
  // The fixed-horizon test's planned power at the horizon, from the SE a run ends with.
  const planned = powerAt(s.mde, Math.sqrt((2 * s.unitVariance) / (LOOKS * PER_LOOK)), ALPHA);
  const none = summarise(s, false, Number(values.seed));
  const mde = summarise(s, true, Number(values.seed) + 1);
  console.log(
    `\n${s.name}: horizon ${LOOKS * PER_LOOK} users per arm (${LOOKS} looks of ${PER_LOOK}), fixed-horizon power planned ${(planned * 100).toFixed(1)} %`,
  );
  console.log(
    `  ${'rule'.padEnd(9)} ${'false positives (no effect)'.padStart(27)} ${'power (at the MDE)'.padStart(20)} ${'users per arm to decision (at the MDE)'.padStart(40)}`,
  );
  for (const rule of RULES) {
    const fp = `${(none[rule].rate * 100).toFixed(1)} %${none[rule].rate > ALPHA + margin ? ' (> α)' : ''}`;
    console.log(`  ${rule.padEnd(9)} ${fp.padStart(27)} ${`${(mde[rule].rate * 100).toFixed(1)} %`.padStart(20)} ${mde[rule].users.toFixed(0).padStart(40)}`);
  }
}
console.log(
  `\n(±${(margin * 100).toFixed(1)} points is the 95 % noise of a false-positive rate near α over ${RUNS} runs; ${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
