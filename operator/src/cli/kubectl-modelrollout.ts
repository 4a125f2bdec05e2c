#!/usr/bin/env node
// kubectl-modelrollout entry point: `kubectl modelrollout <command> [name] [-n namespace]`.
import * as k8s from '@kubernetes/client-node';
import { GROUP, type ModelRollout, PLURAL, VERSION } from '../api/index.js';
import { annotationsFor, parseArgs, table, UsageError } from './commands.js';
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
  if (args.command === 'get') {
    console.log(table(await list(), args.allNamespaces));
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
