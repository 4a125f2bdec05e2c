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
  const p = Math.round(x * 10_000) / 100;
  return `${p >= 0 ? '+' : ''}${Math.abs(p) >= 100 ? Math.round(p) : p} %`;
};
const num = (x: number): string => String(+x.toPrecision(4));

/**
 * Cost change = candidate ÷ stable − 1 of the cost metric; quality change = the same of the quality metric,
 * negated when lower is better (so positive is always an improvement). Violated when the cost rose by more
 * than freeIncrease and either by more than maxIncrease or with a quality change under minImprovement.
 * Missing or failed measurements give noData/error (the step holds), never a pass on a guess.
 */
export function judgeTradeOff(rule: TradeOffRule, cost: Sides, quality: Sides): TradeOffVerdict {
  if (!cost.stable || !quality.stable) return { verdict: 'pass', message: `${rule.name}: stable serves no traffic at this step, nothing to compare with` };
  const values: number[] = [];
  for (const [name, m] of [[rule.cost, cost.candidate], [`${rule.cost} (stable)`, cost.stable], [rule.quality, quality.candidate], [`${rule.quality} (stable)`, quality.stable]] as const) {
    if (m.kind === 'error') return { verdict: 'error', message: `${rule.name}: ${name} query failed: ${m.message}` };
    const v = valueOf(m);
    if (v === undefined || !Number.isFinite(v)) return { verdict: 'noData', message: `${rule.name}: no value for ${name}${m.kind === 'noData' ? ` (${m.message})` : ` (${v})`}` };
    values.push(v);
  }
  const [c, cs, q, qs] = values as [number, number, number, number];
  if (cs <= 0) return { verdict: 'noData', message: `${rule.name}: stable's ${rule.cost} is ${num(cs)}, no cost change can be judged` };
  if (qs === 0) return { verdict: 'noData', message: `${rule.name}: stable's ${rule.quality} is 0, no relative improvement can be judged` };
  const costChange = c / cs - 1;
  const raw = q / qs - 1;
  const qualityChange = rule.better === 'higher' ? raw : -raw;
  const facts = `${rule.cost} ${pct(costChange)} (${num(c)} vs stable ${num(cs)}), ${rule.quality} ${pct(qualityChange)} better (${num(q)} vs stable ${num(qs)}, ${rule.better} is better)`;
  const base = { costChange, qualityChange };
  if (costChange <= rule.freeIncrease) return { verdict: 'pass', message: `${rule.name}: ${facts}; cost within the ${pct(rule.freeIncrease)} allowed without a quality gain`, ...base };
  if (costChange > rule.maxIncrease) {
    return { verdict: 'violated', message: `${rule.name}: ${facts}; costs more than the ${pct(rule.maxIncrease)} allowed even with better quality`, ...base };
  }
  if (qualityChange < rule.minImprovement) {
    return { verdict: 'violated', message: `${rule.name}: ${facts}; a cost increase needs ${rule.quality} at least ${pct(rule.minImprovement)} better`, ...base };
  }
  return { verdict: 'pass', message: `${rule.name}: ${facts}; the quality gain pays for the cost (up to ${pct(rule.maxIncrease)} for ≥ ${pct(rule.minImprovement)})`, ...base };
}

function valueOf(m: Measurement): number | undefined {
  if (m.kind === 'value') return m.value;
  if (m.kind === 'counts') return wholeCount(m.trials) > 0 ? Math.min(wholeCount(m.events), wholeCount(m.trials)) / wholeCount(m.trials) : undefined;
  return undefined;
}
