// The Stage file kwok runs with: node stages from kwok's own module (initialise + lease heartbeat, as
// built by hack/build-control-plane.sh into the binary cache) and the repo's pod stages
// (kwok-pod-stages.yaml: readiness takes time). Written per control plane, so a machine whose binary
// cache predates the slow pod stages picks them up without a rebuild.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from './paths.js';

export const POD_STAGES_FILE = path.join(repoRoot, 'test', 'env', 'kwok-pod-stages.yaml');

/** Annotations the pod stages read; set them on a pod template (spec.template.metadata.annotations). */
export const TEST_READY_DELAY_ANNOTATION = 'modelrollout.dev/test-ready-delay';
export const TEST_READY_DELAY_MAX_ANNOTATION = 'modelrollout.dev/test-ready-delay-max';
export const TEST_CRASH_LOOP_ANNOTATION = 'modelrollout.dev/test-crash-loop';
/**
 * `process`: a real process serves the pod (pod-runner.ts), which then owns its readiness; kwok's
 * pod-ready stage leaves such a pod alone (kwok still gives it a pod IP and deletes it).
 */
export const TEST_RUNNER_ANNOTATION = 'modelrollout.dev/test-runner';
export const TEST_RUNNER_PROCESS = 'process';

interface StageDoc {
  kind?: string;
  spec?: { resourceRef?: { kind?: string } };
}

/**
 * Writes `<dir>/kwok-stages.yaml`: every Node stage of `cachedStagesFile` followed by the repo's pod
 * stages; returns its path. Throws when the cached file has no Node stage (kwok would leave nodes NotReady).
 */
export function writeKwokStages(cachedStagesFile: string, dir: string): string {
  const nodeStages = YAML.parseAllDocuments(fs.readFileSync(cachedStagesFile, 'utf8'))
    .filter((doc) => (doc.toJS() as StageDoc | null)?.spec?.resourceRef?.kind === 'Node')
    .map((doc) => doc.toString());
  if (nodeStages.length === 0) throw new Error(`no Node stage in ${cachedStagesFile}: rebuild with hack/build-control-plane.sh`);
  const out = path.join(dir, 'kwok-stages.yaml');
  fs.writeFileSync(out, [...nodeStages, fs.readFileSync(POD_STAGES_FILE, 'utf8')].map((s) => `---\n${s.replace(/^---\n/, '')}`).join('\n'));
  return out;
}
