// Prometheus metrics. The operator's analysis templates query these names: keep them stable and keep
// README.md in step. Every series carries model_name and model_version (registry default labels), so a
// stable and a candidate Deployment are told apart by version alone.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Provider } from '../model/execution-provider.js';
import type { GpuMemory } from './gpu-memory.js';

export type Route = 'generate' | 'videos';

export const REQUEST_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
export const DENOISE_STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface RuntimeMetrics {
  registry: Registry;
  requests: Counter<'status' | 'route'>;
  requestDuration: Histogram<'route'>;
  denoiseStep: Histogram;
  modelLoadSeconds: Gauge;
  warmupSeconds: Gauge;
  generatedVideoSeconds: Counter;
  providerInfo: Gauge<'provider'>;
  faultInjection: Gauge<'kind'>;
  /** Records a finished request once, with its final HTTP status. */
  requestFinished(route: Route, status: number, seconds?: number): void;
  setProvider(provider: Provider): void;
}

export interface MetricSources {
  queueDepth: () => number;
  inflight: () => number;
  /** GPU memory of the device in use; undefined on CPU or where it cannot be read (no series then). */
  gpuMemory: () => Promise<{ deviceId: number; memory: GpuMemory } | undefined>;
}

export function createMetrics(model: { name: string; version: string }, sources: MetricSources): RuntimeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: model.name, model_version: model.version });
  collectDefaultMetrics({ register: registry, prefix: 't2v_' });
  const registers = [registry];
  const requests = new Counter({
    name: 't2v_requests_total', help: 'Generation requests by final HTTP status (async jobs counted when they finish).', labelNames: ['status', 'route'] as const, registers,
  });
  const requestDuration = new Histogram({
    name: 't2v_request_duration_seconds', help: 'Accepted generation requests, arrival to finished MP4 (queue wait included).',
    labelNames: ['route'] as const, buckets: REQUEST_DURATION_BUCKETS, registers,
  });
  new Gauge({
    name: 't2v_queue_depth', help: 'Accepted generations waiting for a slot.', registers,
    collect() {
      this.set(sources.queueDepth());
    },
  });
  new Gauge({
    name: 't2v_inflight_jobs', help: 'Generations running now.', registers,
    collect() {
      this.set(sources.inflight());
    },
  });
  const denoiseStep = new Histogram({ name: 't2v_denoise_step_duration_seconds', help: 'One denoiser step (all its session runs, guidance and scheduler update).', buckets: DENOISE_STEP_BUCKETS, registers });
  const modelLoadSeconds = new Gauge({ name: 't2v_model_load_seconds', help: 'Time to load the tokenizer and ONNX sessions.', registers });
  const warmupSeconds = new Gauge({ name: 't2v_warmup_seconds', help: 'Time of the warm-up generation run before readiness.', registers });
  const generatedVideoSeconds = new Counter({ name: 't2v_generated_video_seconds_total', help: 'Seconds of video successfully generated (for cost per generated second).', registers });
  const providerInfo = new Gauge({ name: 't2v_execution_provider_info', help: 'The onnxruntime execution provider in use (value 1).', labelNames: ['provider'] as const, registers });
  const faultInjection = new Gauge({ name: 't2v_fault_injection', help: 'Fault injection settings (drills only; 0 = off): kind=error_rate|latency_seconds.', labelNames: ['kind'] as const, registers });
  new Gauge({
    name: 't2v_gpu_memory_used_bytes', help: 'GPU memory in use on the device (nvidia-smi); absent on CPU.', labelNames: ['device'] as const, registers,
    async collect() {
      const gpu = await sources.gpuMemory();
      this.reset();
      if (gpu) this.set({ device: String(gpu.deviceId) }, gpu.memory.usedBytes);
    },
  });
  return {
    registry,
    requests,
    requestDuration,
    denoiseStep,
    modelLoadSeconds,
    warmupSeconds,
    generatedVideoSeconds,
    providerInfo,
    faultInjection,
    requestFinished(route, status, seconds) {
      requests.inc({ route, status: String(status) });
      if (seconds !== undefined) requestDuration.observe({ route }, seconds);
    },
    setProvider(provider) {
      providerInfo.reset();
      providerInfo.set({ provider }, 1);
    },
  };
}
