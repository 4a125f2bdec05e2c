import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { gatewayProxyCrdsPath } from './binaries.js';
import { repoRoot, thirdPartyCrdDir } from './paths.js';
import { isConflict } from '../../operator/src/kube/errors.js';

/** The project's own CRDs plus the third-party ones the tests route and monitor through. */
export function defaultCrdFiles(): string[] {
  const own = path.join(repoRoot, 'crds');
  const ownFiles = fs.existsSync(own)
    ? fs
        .readdirSync(own)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => path.join(own, f))
    : [];
  const third = [
    'gateway-api-v1.4.1/standard/gatewayclasses.yaml',
    'gateway-api-v1.4.1/standard/gateways.yaml',
    'gateway-api-v1.4.1/standard/httproutes.yaml',
    'gateway-api-v1.4.1/standard/referencegrants.yaml',
    'istio-1.28/customresourcedefinitions.gen.yaml',
    'prometheus-operator-v0.86.0/servicemonitors.yaml',
    'prometheus-operator-v0.86.0/podmonitors.yaml',
  ].map((f) => path.join(thirdPartyCrdDir, f));
  for (const f of third) if (!fs.existsSync(f)) throw new Error(`third-party CRD file missing: ${f} (set MODELROLLOUT_THIRD_PARTY_CRDS)`);
  // Traefik's CRDs (TraefikService: the traefik router's object) come with the proxy's build (hack/setup.sh).
  const traefik = gatewayProxyCrdsPath();
  if (!fs.existsSync(traefik)) throw new Error(`Traefik's CRDs missing: ${traefik} (run bash hack/setup.sh)`);
  return [...ownFiles, ...third, traefik];
}

export function readCrds(files: string[]): k8s.V1CustomResourceDefinition[] {
  return files.flatMap((file) =>
    YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
      .map((d) => d.toJSON() as k8s.V1CustomResourceDefinition | null)
      .filter((d): d is k8s.V1CustomResourceDefinition => d?.kind === 'CustomResourceDefinition'),
  );
}

/** Creates (or replaces) the CRDs and waits until every one is Established. */
export async function installCrds(kc: k8s.KubeConfig, files: string[]): Promise<void> {
  // The typed ApiextensionsV1Api serialises bodies through its camelCase models and mangles raw YAML keys
  // (`x-kubernetes-validations`, a property literally named `properties`); the custom-objects client sends
  // the object as it is.
  const raw = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = readCrds(files);
  await Promise.all(
    crds.map(async (crd) => {
      const name = crd.metadata!.name!;
      try {
        await raw.createClusterCustomObject({ ...ref, body: crd });
      } catch (err) {
        if (!isConflict(err)) throw err;
        const current = await api.readCustomResourceDefinition({ name });
        const body = { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } };
        await raw.replaceClusterCustomObject({ ...ref, name, body });
      }
    }),
  );
  const deadline = Date.now() + 60_000;
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    for (;;) {
      const got = await api.readCustomResourceDefinition({ name });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 60 s`);
      await sleep(100);
    }
  }
}
