// Cost metrics in money: GPU-seconds × the spec's price per GPU-hour ÷ 3600.
import type { MetricResult, MetricRule } from './types.js';

export interface Price {
  /** Money per GPU-hour (spec.analysis.price.perGpuHour), e.g. 2.49. */
  perGpuHour: number;
  /** ISO 4217 code or any short label (spec.analysis.price.currency; default USD). */
  currency: string;
}

/**
 * The result with `money` added when the rule measures GPU-seconds (a cost template) and a price is set:
 * amount = value × perGpuHour ÷ 3600 per video-second or per clip, and stable's too when it was measured
 * (the result's baseline, or `stableValue` for a metric measured for a trade-off only). The message gains the
 * amounts. Otherwise the result itself.
 */
export function withMoney(result: MetricResult, rule: MetricRule, price: Price | undefined, stableValue?: number): MetricResult {
  if (!price || !rule.costPer || result.value === undefined) return result;
  const toMoney = (gpuSeconds: number): number => (gpuSeconds * price.perGpuHour) / 3600;
  const money: NonNullable<MetricResult['money']> = { amount: toMoney(result.value), currency: price.currency, per: rule.costPer };
  const stable = result.baseline ?? stableValue;
  if (stable !== undefined && Number.isFinite(stable)) money.stable = toMoney(stable);
  const shown = (x: number): string => `${+x.toPrecision(3)} ${price.currency}`;
  const versus = money.stable !== undefined ? ` (stable ${shown(money.stable)})` : '';
  return {
    ...result,
    money,
    message: `${result.message}; ${shown(money.amount)} per ${rule.costPer}${versus} at ${price.perGpuHour} ${price.currency}/GPU-hour`,
  };
}
