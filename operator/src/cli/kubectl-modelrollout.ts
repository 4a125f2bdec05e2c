#!/usr/bin/env node
// kubectl-modelrollout entry point: `kubectl modelrollout <command> [name] [-n namespace]`.
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { GROUP, KIND, LABEL_NAME, type ModelRollout, PLURAL, VERSION } from '../api/index.js';
import { annotationsFor, parseArgs, table, UsageError } from './commands.js';
import { detail } from './detail.js';
import { kubeSource } from '../dashboard/kube-source.js';
import { startDashboard } from '../dashboard/server.js';
import { isNotFound } from '../kube/errors.js';

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const namespace = args.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, plural: PLURAL };
  const list = async (): Promise<ModelRollout[]> => {
    if (args.name) return [(await custom.getNamespacedCustomObject({ ...ref, namespace, name: args.name })) as ModelRollout];
    const res = (args.allNamespaces ? await custom.listClusterCustomObject(ref) : await custom.listNamespacedCustomObject({ ...ref, namespace })) as {
      items: ModelRollout[];
    };
    return res.items;
  };
  if (args.command === 'dashboard') {
    const d = await startDashboard({
      source: kubeSource(kc, namespace),
      namespace,
      write: args.write ?? false,
      port: args.port ?? 0,
      address: args.address ?? '127.0.0.1',
      listenSetting: '--address, --port',
      writeHint: 'start it with `kubectl modelrollout dashboard --write`',
    });
    console.log(
      `modelrollout dashboard for namespace ${namespace} (${args.write ? 'write access: controls enabled' : 'read-only; --write adds the controls'}): ${d.url}`,
    );
    console.log('Ctrl-C to stop');
    return;
  }
  if (args.command === 'get') {
    const rollouts = await list();
    if (args.output) {
      const body = args.name ? rollouts[0] : { apiVersion: 'v1', kind: 'List', items: rollouts };
      console.log(args.output === 'json' ? JSON.stringify(body, null, 2) : stringify(body));
    } else if (args.name) console.log(await describe(kc, rollouts[0]!, namespace));
    else console.log(table(rollouts, args.allNamespaces));
    return;
  }
  if (args.command === 'watch') {
    for (;;) {
      process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n${table(await list(), args.allNamespaces)}\n`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  const annotations = annotationsFor(args.command, new Date());
  await custom.patchNamespacedCustomObject(
    { ...ref, namespace, name: args.name!, body: { metadata: { annotations } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  console.log(`modelrollout ${namespace}/${args.name}: ${args.command} requested`);
}

/** The detail view: the rollout, its Deployments and pods (by the operator's name label) and its events. */
async function describe(kc: k8s.KubeConfig, rollout: ModelRollout, namespace: string): Promise<string> {
  const name = rollout.metadata.name!;
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labelSelector = `${LABEL_NAME}=${name}`;
  const [deployments, pods, events] = await Promise.all([
    apps.listNamespacedDeployment({ namespace, labelSelector }),
    core.listNamespacedPod({ namespace, labelSelector }),
    core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}` }),
  ]);
  return detail({ rollout, deployments: deployments.items, pods: pods.items, events: events.items }, new Date());
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(err.message);
    process.exit(2);
  }
  const api = err as k8s.ApiException<unknown>;
  if (isNotFound(api)) console.error(`error: ModelRollout not found (${String(api.body).slice(0, 200)})`);
  else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
