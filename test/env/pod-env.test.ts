import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerEnv, readinessProbe, servingPort } from './pod-env.js';

const pod = (container: k8s.V1Container): k8s.V1Pod => ({
  metadata: { name: 't2v-abc', namespace: 'team-a', uid: 'u-1', labels: { 'modelrollout.dev/revision': '7f0dc89b6c' }, annotations: { note: 'x' } },
  spec: { nodeName: 'gpu-node-1', containers: [container] },
  status: { podIP: '10.200.0.7' },
});

describe('containerEnv', () => {
  it('resolves values, $(VAR) references and the downward-API fields the operator sets', () => {
    const c: k8s.V1Container = {
      name: 'server',
      env: [
        { name: 'A', value: 'one' },
        { name: 'B', value: '$(A)-two-$$(A)-$(MISSING)' },
        { name: 'REV', valueFrom: { fieldRef: { fieldPath: "metadata.labels['modelrollout.dev/revision']" } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'NOTE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['note']" } } },
        { name: 'ABSENT', valueFrom: { fieldRef: { fieldPath: "metadata.labels['nope']" } } },
        { name: 'EMPTY' },
      ],
    };
    expect(containerEnv(pod(c), c)).toEqual({
      env: { A: 'one', B: 'one-two-$(A)-$(MISSING)', REV: '7f0dc89b6c', NS: 'team-a', IP: '10.200.0.7', NOTE: 'x', ABSENT: '', EMPTY: '' },
      unsupported: [],
    });
  });

  it('names what it cannot resolve instead of inventing a value', () => {
    const c: k8s.V1Container = {
      name: 'server',
      env: [
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'LIMIT', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
      ],
    };
    expect(containerEnv(pod(c), c)).toEqual({ env: {}, unsupported: ['TOKEN (secretKeyRef)', 'LIMIT (fieldRef status.podIPs)'] });
  });
});

describe('readinessProbe', () => {
  it("takes the container's httpGet probe, port by name, with Kubernetes defaults for what it leaves out", () => {
    const c: k8s.V1Container = {
      name: 'server',
      ports: [
        { name: 'metrics', containerPort: 9090 },
        { name: 'http', containerPort: 8000 },
      ],
      readinessProbe: { httpGet: { path: '/ready', port: 'http' }, initialDelaySeconds: 5 },
    };
    expect(readinessProbe(c)).toEqual({ path: '/ready', port: 8000, periodMs: 10_000, initialDelayMs: 5000, timeoutMs: 1000, failureThreshold: 3 });
    expect(servingPort(c)).toBe(8000);
    expect(servingPort({ name: 'server', ports: [{ containerPort: 9000 }] })).toBe(9000);
  });

  it("falls back to the runtime's /readyz on the serving port every second", () => {
    expect(readinessProbe({ name: 'server', ports: [{ containerPort: 8080 }] })).toMatchObject({ path: '/readyz', port: 8080, periodMs: 1000 });
    expect(readinessProbe({ name: 'server' })).toMatchObject({ path: '/readyz', port: 8080 });
  });

  it('refuses a probe port name the container does not declare', () => {
    expect(() => readinessProbe({ name: 'server', readinessProbe: { httpGet: { path: '/', port: 'web' } } })).toThrow(/readinessProbe.httpGet.port web/);
  });
});
