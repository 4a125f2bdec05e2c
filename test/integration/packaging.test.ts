// Packaging: the Helm chart (lint, template + server-side dry run, install, and the operator running
// with exactly the chart's RBAC), the examples, and the GitOps health checks on real status objects.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import YAML from 'yaml';
import { createAdapterMetrics } from '../../inference-image/src/telemetry/adapter-metrics.js';
import { createMetrics as createRuntimeMetrics } from '../../inference-image/src/telemetry/metrics.js';
import { GOLDEN_METRICS } from '../../operator/src/analysis/spec.js';
import { createMetrics as createOperatorMetrics } from '../../operator/src/telemetry/metrics.js';
import { binaryDir } from '../env/binaries.js';
import { repoRoot } from '../env/paths.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture, type RolloutObject } from './rollout-fixtures.js';
import { kubeConfig, testNamespace, waitUntil } from './support.js';

const run = promisify(execFile);
const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');
const chart = path.join(repoRoot, 'charts', 'modelrollout-operator');
const helm = path.join(binaryDir(), 'helm-v3.21.4', 'helm');

async function helmRun(...args: string[]): Promise<string> {
  const { stdout } = await run(helm, args, {
    env: { ...process.env, KUBECONFIG: kubeconfigPath, HELM_CACHE_HOME: os.tmpdir(), HELM_CONFIG_HOME: os.tmpdir() },
    maxBuffer: 16 << 20,
  });
  return stdout;
}

function docs(yaml: string): k8s.KubernetesObject[] {
  return YAML.parseAllDocuments(yaml)
    .map((d) => d.toJSON() as k8s.KubernetesObject | null)
    .filter((d): d is k8s.KubernetesObject => !!d?.kind);
}

async function applyAll(objects: k8s.KubernetesObject[], namespace: string, dryRun?: 'All'): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    const body = { ...obj, metadata: { ...obj.metadata, ...(isClusterScoped(obj) ? {} : { namespace: obj.metadata?.namespace ?? namespace }) } };
    await api.create(body, undefined, dryRun);
  }
}

function isClusterScoped(obj: k8s.KubernetesObject): boolean {
  return ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace'].includes(obj.kind!);
}

function luaHealth(obj: unknown): Promise<{ status: string; message: string }> {
  const script = fs.readFileSync(path.join(chart, 'argocd', 'health.lua'), 'utf8');
  const wrapper = `local cjson = require "cjson"\nobj = cjson.decode(io.read("*a"))\nlocal function check()\n${script}\nend\nlocal hs = check()\nio.write(hs.status, "\\t", hs.message or "")\n`;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lua-')), 'health.lua');
  fs.writeFileSync(file, wrapper);
  const child = spawn('lua5.1', [file]);
  return new Promise<{ status: string; message: string }>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('close', (code) =>
      code === 0 ? resolve({ status: out.split('\t')[0]!, message: out.split('\t').slice(1).join('\t') }) : reject(new Error(`lua5.1 exited ${code}: ${err}`)),
    );
    child.stdin.end(JSON.stringify(obj));
  });
}

describe('Helm chart', () => {
  it('carries exactly the CRDs in crds/', () => {
    for (const f of fs.readdirSync(path.join(repoRoot, 'crds'))) {
      expect(fs.readFileSync(path.join(chart, 'crds', f), 'utf8'), `charts/modelrollout-operator/crds/${f} differs from crds/${f}`).toBe(
        fs.readFileSync(path.join(repoRoot, 'crds', f), 'utf8'),
      );
    }
  });

  it('lints, and refuses bad values with a message that names them', async () => {
    expect(await helmRun('lint', chart, '--strict')).toContain('1 chart(s) linted, 0 chart(s) failed');
    const bad = await helmRun('template', 'x', chart, '--set', 'workers=0').then(
      () => undefined,
      (e: { stderr: string }) => e.stderr,
    );
    expect(bad).toContain("at '/workers': minimum: got 0, want 1");
    const split = await helmRun('template', 'x', chart, '--kube-version', 'v1.36.3', '--set', 'leaderElection.enabled=false').then(
      () => undefined,
      (e: { stderr: string }) => e.stderr,
    );
    expect(split).toContain('replicaCount > 1 needs leaderElection.enabled=true');
  });

  it.each([
    ['default values', []],
    [
      'non-default values',
      [
        '--set',
        'replicaCount=3',
        '--set',
        'metrics.serviceMonitor.enabled=true',
        '--set',
        'watchNamespace=ml',
        '--set',
        'rbac.readSecrets=false',
        '--set',
        'dashboard.enabled=true',
        '--set',
        'podDisruptionBudget.enabled=false',
      ],
    ],
  ])('renders with %s into objects the API server accepts (server-side dry run)', async (_what, args) => {
    const ns = await testNamespace(kc, 'chart-dry');
    const objects = docs(await helmRun('template', 'mro', chart, '--namespace', ns, '--kube-version', 'v1.36.3', ...(args as string[])));
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'ServiceAccount', 'ClusterRole', 'Service']));
    await applyAll(objects, ns, 'All');
    const deployment = objects.find((o) => o.kind === 'Deployment') as k8s.V1Deployment;
    const container = deployment.spec!.template.spec!.containers[0]!;
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(deployment.spec!.template.spec!.securityContext).toMatchObject({ runAsNonRoot: true });
    const dashboard = objects.find((o) => o.kind === 'Service' && o.metadata?.name?.endsWith('-dashboard'));
    expect(dashboard !== undefined).toBe(args.includes('dashboard.enabled=true'));
    if (dashboard)
      expect(container.env).toEqual(
        expect.arrayContaining([
          { name: 'MODELROLLOUT_DASHBOARD_ADDRESS', value: '0.0.0.0:8090' },
          // The Host check's names for a wildcard address (DNS rebinding): the Service's own.
          {
            name: 'MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS',
            value: [0, 1, 2, 3].map((n) => [dashboard.metadata?.name, ns, 'svc', 'cluster.local'].slice(0, n + 1).join('.')).join(','),
          },
        ]),
      );
  });

  it("installs, and the operator runs a full rollout with nothing but the chart's ServiceAccount and RBAC", async () => {
    const release = await testNamespace(kc, 'chart-inst');
    const out = await helmRun('install', 'mro', chart, '--namespace', release, '--set', 'replicaCount=1');
    expect(out).toContain('kubectl wait --for=condition=Ready mro/<name>');
    const token = await kc.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
      name: 'mro-modelrollout-operator',
      namespace: release,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const sa = new k8s.KubeConfig();
    sa.loadFromFile(kubeconfigPath);
    const cluster = sa.getCurrentCluster()!;
    const saKubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sa-')), 'kubeconfig');
    fs.writeFileSync(
      saKubeconfig,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'sa',
        clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } }],
        users: [{ name: 'operator', user: { token: token.status!.token } }],
        contexts: [{ name: 'sa', context: { cluster: 'local', user: 'operator' } }],
      }),
    );
    const ns = await testNamespace(kc, 'chart-ro');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    const operator = await startOperator(saKubeconfig, ns, { MODELROLLOUT_LEASE_NAMESPACE: release });
    await fx.create(fx.spec());
    await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    await fx.setVersion('v2');
    await fx.waitFor('promoted', (r) => r.status?.stable?.modelVersion === 'v2' && fx.condition(r, 'Ready')?.status === 'True');
    expect(operator.log()).not.toMatch(/"code":403/);
    await helmRun('uninstall', 'mro', '--namespace', release);
  });
});

describe('t2v-inference example chart', () => {
  it('lints, renders and reaches Ready on the local control plane', async () => {
    const example = path.join(repoRoot, 'charts', 't2v-inference');
    expect(await helmRun('lint', example, '--strict')).toContain('0 chart(s) failed');
    const ns = await testNamespace(kc, 'chart-t2v');
    await startOperator(kubeconfigPath, ns);
    await applyAll(
      docs(await helmRun('template', 't2v', example, '--namespace', ns, '--set', 'replicas=2', '--set', 'analysis.prometheusAddress=http://127.0.0.1:9')),
      ns,
    );
    const fx = new RolloutFixture(kc, ns, 't2v');
    const ready = await fx.waitFor('Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    expect(ready.status?.replicas?.stable).toEqual({ desired: 2, ready: 2 });
  });
});

describe('examples', () => {
  it.each(['minimal.yaml', 'shadow-and-gate.yaml', 'shadow-traefik.yaml', 'custom-analysis.yaml', 'quality-and-cost.yaml'])(
    '%s applies and reaches Ready',
    async (file) => {
      const ns = await testNamespace(kc, 'example');
      await startOperator(kubeconfigPath, ns);
      const objects = docs(fs.readFileSync(path.join(repoRoot, 'examples', file), 'utf8'));
      await applyAll(objects, ns);
      const name = objects.find((o) => o.kind === 'ModelRollout')!.metadata!.name!;
      const fx = new RolloutFixture(kc, ns, name);
      await fx.waitFor(`${file} Ready`, (r) => fx.condition(r, 'Ready')?.status === 'True');
    },
  );
});

describe('GitOps health', () => {
  it('the Argo CD Lua check and the Ready condition read real status objects right', async () => {
    const ns = await testNamespace(kc, 'gitops');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    await startOperator(kubeconfigPath, ns);
    await fx.create(fx.spec({ strategy: { stepDuration: '1h' } }));
    expect((await luaHealth({ metadata: { generation: 1 } })).status).toBe('Progressing');
    const healthy = await fx.waitFor('Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    expect(await luaHealth(healthy)).toMatchObject({ status: 'Healthy' });

    await fx.setVersion('v2');
    const progressing = await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);
    expect(fx.condition(progressing, 'Ready')?.status).toBe('False');
    expect(await luaHealth(progressing)).toMatchObject({ status: 'Progressing' });
    // A spec the operator has not seen yet is never reported healthy.
    expect((await luaHealth({ ...healthy, metadata: { ...healthy.metadata, generation: 99 } })).status).toBe('Progressing');

    await fx.annotate({ 'modelrollout.dev/paused': 'true' });
    const paused = await fx.waitFor('paused', (r) => r.status?.phase === 'Paused');
    expect(await luaHealth(paused)).toMatchObject({ status: 'Suspended' });

    await fx.annotate({ 'modelrollout.dev/paused': null, 'modelrollout.dev/abort': 'now' });
    const aborted: RolloutObject = await fx.waitFor('aborted', (r) => r.status?.phase === 'Aborted');
    expect(await luaHealth(aborted)).toMatchObject({ status: 'Degraded', message: expect.stringContaining('AbortRequested') });
    await waitUntil('still not Ready', async () => (fx.condition(await fx.get(), 'Ready')?.status === 'False' ? true : undefined));
  });

  it('the Argo CD Lua check names the object a blocked rollout waits on', async () => {
    const ns = await testNamespace(kc, 'gitops-blocked');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    await fx.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 't2v-stable' }, spec: { selector: { app: 'legacy-t2v' }, ports: [{ port: 80 }] } },
    });
    await startOperator(kubeconfigPath, ns);
    await fx.create(fx.spec());
    const blocked = await fx.waitFor('ReconcileError', (r) => fx.condition(r, 'ReconcileError')?.status === 'True');
    expect(await luaHealth(blocked)).toMatchObject({
      status: 'Progressing',
      message: expect.stringMatching(/^ObjectNotOwned: Service t2v-stable exists and is not owned by this ModelRollout/),
    });
  });
});

/** Every metric name the operator and the runtime export (a histogram also as its _bucket, _sum and _count series). */
async function exportedMetricNames(): Promise<Set<string>> {
  const operator = createOperatorMetrics({ queueDepth: () => 0, phases: () => ({}) });
  const runtime = createRuntimeMetrics({ name: 'm', version: 'v1' }, { queueDepth: () => 0, inflight: () => 0, gpuMemory: async () => undefined });
  createAdapterMetrics(runtime.registry, () => 0);
  const names = new Set<string>(Object.values(GOLDEN_METRICS));
  for (const registry of [operator.registry, runtime.registry])
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
    }
  return names;
}

/** Metric names in a PromQL expression that are not exported (only the project's prefixes are ours to check). */
function unknownMetrics(expr: string, exported: Set<string>): string[] {
  // Label matchers and grouping clauses name labels, not metrics.
  const metricsOnly = expr.replace(/\{[^}]*\}/g, '').replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...metricsOnly.matchAll(/\b((?:modelrollout|t2v)_[a-z0-9_]+)\b/g)].map((m) => m[1]!).filter((name) => !exported.has(name));
}

describe('Grafana dashboard', () => {
  it("ships as a ConfigMap for Grafana's sidecar, and every query names metrics the code exports", async () => {
    const objects = docs(await helmRun('template', 'mro', chart, '--namespace', 'ops', '--kube-version', 'v1.36.3'));
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.labels?.grafana_dashboard === '1') as k8s.V1ConfigMap | undefined;
    expect(cm, 'a ConfigMap labelled grafana_dashboard: "1"').toBeDefined();
    const dashboard = JSON.parse(cm!.data!['modelrollout.json']!) as { uid: string; panels: { title: string; targets?: { expr: string }[] }[] };
    expect(dashboard.uid).toBe('modelrollout');
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    const exported = await exportedMetricNames();
    for (const { panel, expr } of exprs) expect(unknownMetrics(expr, exported), `${panel}: ${expr}`).toEqual([]);
    // The check can fail: a misspelt or removed metric is reported.
    expect(unknownMetrics('rate(t2v_request_total[5m]) + modelrollout_golden_ssim', exported)).toEqual(['t2v_request_total']);
    // Off by a value: no ConfigMap.
    const off = docs(await helmRun('template', 'mro', chart, '--kube-version', 'v1.36.3', '--set', 'grafanaDashboard.enabled=false'));
    expect(off.some((o) => o.metadata?.labels?.grafana_dashboard)).toBe(false);
  });
});
