import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Gateway API, Istio and Prometheus Operator CRDs live beside the checkout, in ../shared. */
export const thirdPartyCrdDir = process.env.MODELROLLOUT_THIRD_PARTY_CRDS ?? path.resolve(repoRoot, '..', 'shared', 'third-party-crds');
