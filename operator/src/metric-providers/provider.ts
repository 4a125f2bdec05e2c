// One small interface per metrics system. A query answers with a measurement, never throws.
import type { Measurement } from '../analysis/types.js';

export interface MetricsProvider {
  query(promql: string, at: Date): Promise<Measurement>;
}
