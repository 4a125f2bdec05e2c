// The metrics-provider factory: one case per metrics system.
import { PrometheusProvider, type PrometheusOptions } from './prometheus.js';
import type { MetricsProvider } from './provider.js';

export type ProviderConfig = { kind: 'prometheus' } & PrometheusOptions;

export function providerFor(config: ProviderConfig): MetricsProvider {
  switch (config.kind) {
    case 'prometheus':
      return new PrometheusProvider(config);
  }
}

export type { MetricsProvider } from './provider.js';
