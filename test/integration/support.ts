// Shared helpers for integration tests: the run's control plane, a namespace per test, polling.
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { inject, onTestFinished } from 'vitest';
import { loadKubeConfig } from '../env/control-plane.js';
import { GPU_RESOURCE } from '../env/gpu-nodes.js';

export function kubeConfig(): k8s.KubeConfig {
  return loadKubeConfig(inject('kubeconfigPath'));
}

/** A fresh namespace for the current test, deleted when the test finishes (pass or fail). */
export async function testNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  onTestFinished(async () => {
    await core.deleteNamespace({ name }).catch(() => undefined);
    // GPUs are shared by every test: wait until this namespace's pods no longer hold any.
    await waitUntil(
      `pods of ${name} gone`,
      async () => ((await core.listNamespacedPod({ namespace: name })).items.length === 0 ? true : undefined),
      60_000,
    ).catch(() => undefined);
  });
  return name;
}

/** Polls `probe` until it returns a value other than undefined; fails with `what` and the last value seen. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export function apiErrorCode(err: unknown): number | undefined {
  return (err as k8s.ApiException<unknown>).code;
}

export function apiErrorMessage(err: unknown): string {
  const body = (err as k8s.ApiException<unknown>).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return String((body as { message?: string } | undefined)?.message ?? err);
}

export interface GpuDeploymentOptions {
  annotations?: Record<string, string>;
  tolerations?: k8s.V1Toleration[];
  /** Fields of the one container beyond its name, image and one-GPU limit (ports, env, probes). */
  container?: Partial<k8s.V1Container>;
  terminationGracePeriodSeconds?: number;
}

/** A Deployment `name` (pods labelled app=<name>) whose one container asks one GPU. */
export async function createGpuDeployment(kc: k8s.KubeConfig, ns: string, name: string, replicas: number, opts: GpuDeploymentOptions = {}): Promise<void> {
  await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, annotations: opts.annotations ?? {} },
          spec: {
            containers: [{ name: 'server', image: 'example.invalid/t2v:v1', resources: { limits: { [GPU_RESOURCE]: '1' } }, ...opts.container }],
            tolerations: opts.tolerations ?? [],
            ...(opts.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds } : {}),
          },
        },
      },
    },
  });
}
