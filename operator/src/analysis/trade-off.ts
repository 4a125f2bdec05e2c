// Pure judgement of a cost/quality trade-off rule from the step's measurements of candidate and stable.
import { wholeCount } from './binomial.js';
import type { Measurement, TradeOffRule } from './types.js';

/** Both sides of one metric, as the step measured them; `stable` absent when stable serves nothing (100 %). */
export interface Sides {
  candidate: Measurement;
  stable?: Measurement;
}

export type TradeOffVerdict =
  | { verdict: 'pass' | 'noData' | 'error'; message: string; costChange?: number; qualityChange?: number }
  /** The rule was broken: the rollout pauses or rolls back as `rule.onViolation` says. */
  | { verdict: 'violated'; message: string; costChange: number; qualityChange: number };

/** A change as a signed percentage to 0.01 % (never exponent notation: two equal means differ by ~1e-14). */
const pct = (x: number): string => {
  if (!Number.isFinite(x)) return x > 0 ? '+∞ %' : x < 0 ? '−∞ %' : 'NaN %';
  const p = Math.round(x * 10_000) / 100;
  return `${p >= 0 ? '+' : ''}${Math.abs(p) >= 100 ? Math.round(p) : p} %`;
};
const num = (x: number): string => String(+x.toPrecision(4));

/** Bounds are compared with this slack: 1.05 ÷ 1 − 1 is 0.050000000000000044, which must read as +5 %. */
const EPSILON = 1e-9;

/**
 * Cost change = candidate ÷ stable − 1 of the cost metric (+Inf for a candidate that spends GPU time and delivers
 * nothing); quality change = (candidate − stable) ÷ |stable| of the quality metric, negated when lower is better
 * (positive is always an improvement; a negative score such as a log-likelihood works too). Quality is only
 * needed between freeIncrease and maxIncrease: a cost within freeIncrease passes and one above maxIncrease is
 * violated whatever the quality. Where it is needed and stable's quality is 0, equal values are no change and
 * any other value an unbounded one (a candidate with blank frames where stable has none is infinitely worse).
 * Missing or failed measurements give noData/error (the step holds and the no-data deadline applies).
 */
export function judgeTradeOff(rule: TradeOffRule, cost: Sides, quality: Sides): TradeOffVerdict {
  if (!cost.stable || !quality.stable) return { verdict: 'pass', message: `${rule.name}: stable serves no traffic at this step, nothing to compare with` };
  const costs = read(rule, [
    [rule.cost, cost.candidate],
    [`${rule.cost} (stable)`, cost.stable],
  ]);
  if ('verdict' in costs) return costs;
  const [c, cs] = costs.values as [number, number];
  // A cost below 0 is a broken query, not a cheap candidate.
  if (c < 0 || cs < 0)
    return { verdict: 'noData', message: `${rule.name}: ${rule.cost} reads ${num(c)} (stable ${num(cs)}): a cost below 0 is no measurement` };
  if (c !== cs && (!(cs > 0) || !Number.isFinite(cs)))
    return { verdict: 'noData', message: `${rule.name}: stable's ${rule.cost} is ${num(cs)}, no cost change can be judged` };
  // Equal costs (0 and 0 included) are no change.
  const costChange = c === cs ? 0 : c / cs - 1;
  const costFacts = `${rule.cost} ${pct(costChange)} (${num(c)} vs stable ${num(cs)})`;
  if (costChange <= rule.freeIncrease + EPSILON)
    return { verdict: 'pass', message: `${rule.name}: ${costFacts}; cost within the ${pct(rule.freeIncrease)} allowed without a quality gain`, costChange };
  const qualities = read(rule, [
    [rule.quality, quality.candidate],
    [`${rule.quality} (stable)`, quality.stable],
  ]);
  const over = costChange > rule.maxIncrease + EPSILON;
  if ('verdict' in qualities) {
    // Over the most any quality gain may buy: violated without knowing the quality.
    if (over)
      return {
        verdict: 'violated',
        message: `${rule.name}: ${costFacts}; costs more than the ${pct(rule.maxIncrease)} allowed even with better quality (${qualities.message})`,
        costChange,
        qualityChange: NaN,
      };
    return qualities;
  }
  const [q, qs] = qualities.values as [number, number];
  // Equal values are no change (0 and 0, +Inf and +Inf); against 0 or an infinity, any other value is unbounded.
  const raw = q === qs ? 0 : qs !== 0 && Number.isFinite(qs) && Number.isFinite(q) ? (q - qs) / Math.abs(qs) : Math.sign(q - qs) * Infinity;
  const qualityChange = rule.better === 'higher' ? raw : -raw;
  const facts = `${costFacts}, ${rule.quality} ${pct(qualityChange)} better (${num(q)} vs stable ${num(qs)}, ${rule.better} is better)`;
  const base = { costChange, qualityChange };
  if (over)
    return { verdict: 'violated', message: `${rule.name}: ${facts}; costs more than the ${pct(rule.maxIncrease)} allowed even with better quality`, ...base };
  if (qualityChange < rule.minImprovement - EPSILON) {
    return {
      verdict: 'violated',
      message: `${rule.name}: ${facts}; a cost increase needs ${rule.quality} at least ${pct(rule.minImprovement)} better`,
      ...base,
    };
  }
  return {
    verdict: 'pass',
    message: `${rule.name}: ${facts}; the quality gain pays for the cost (up to ${pct(rule.maxIncrease)} for ≥ ${pct(rule.minImprovement)})`,
    ...base,
  };
}

/** Both sides' values, or the noData/error verdict naming the side that has none. +Inf is a value (a cost). */
function read(rule: TradeOffRule, sides: [string, Measurement][]): { values: number[] } | (TradeOffVerdict & { verdict: 'noData' | 'error' }) {
  const values: number[] = [];
  for (const [name, m] of sides) {
    if (m.kind === 'error') return { verdict: 'error', message: `${rule.name}: ${name} query failed: ${m.message}` };
    const v = valueOf(m);
    if (v === undefined || Number.isNaN(v) || v === -Infinity)
      return { verdict: 'noData', message: `${rule.name}: no value for ${name}${m.kind === 'noData' ? ` (${m.message})` : ` (${v})`}` };
    values.push(v);
  }
  return { values };
}

function valueOf(m: Measurement): number | undefined {
  if (m.kind === 'value') return m.value;
  if (m.kind === 'counts') return wholeCount(m.trials) > 0 ? Math.min(wholeCount(m.events), wholeCount(m.trials)) / wholeCount(m.trials) : undefined;
  return undefined;
}
