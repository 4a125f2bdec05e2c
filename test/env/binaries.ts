import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths.js';

// Keep in step with hack/build-control-plane.sh.
export const K8S_VERSION = 'v1.36.3';
export const ETCD_VERSION = 'v3.6.8';
export const KWOK_VERSION = 'v0.8.0';
// Keep in step with hack/build-gateway-proxy.sh.
export const TRAEFIK_VERSION = 'v3.7.13';

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  /** kwok's Stage definitions from the same kwok version; only its Node stages are used (see kwok-stages.ts). */
  kwokStages: string;
}

export function binaryDir(): string {
  return process.env.MODELROLLOUT_BIN_DIR ?? path.join(os.homedir(), '.cache', 'modelrollout', 'bin');
}

export function binaryPaths(root = binaryDir()): ControlPlaneBinaries {
  const k8s = path.join(root, `k8s-${K8S_VERSION}`);
  return {
    etcd: path.join(root, `etcd-${ETCD_VERSION}`, 'etcd'),
    kubeApiserver: path.join(k8s, 'kube-apiserver'),
    kubeControllerManager: path.join(k8s, 'kube-controller-manager'),
    kubeScheduler: path.join(k8s, 'kube-scheduler'),
    kwok: path.join(root, `kwok-${KWOK_VERSION}`, 'kwok'),
    kwokStages: path.join(root, `kwok-${KWOK_VERSION}`, 'stages.yaml'),
  };
}

/** Returns the cached binaries, building the missing ones first (cold: many minutes, once per machine). */
export function ensureBinaries(): ControlPlaneBinaries {
  const bins = binaryPaths();
  if (Object.values(bins).every((p) => fs.existsSync(p))) return bins;
  execFileSync('bash', [path.join(repoRoot, 'hack', 'build-control-plane.sh')], { stdio: 'inherit' });
  return bins;
}

/** The Gateway API proxy (Traefik); built by hack/build-gateway-proxy.sh into the same cache. */
export function gatewayProxyBinaryPath(root = binaryDir()): string {
  return path.join(root, `traefik-${TRAEFIK_VERSION}`, 'traefik');
}

/** Traefik's own CRDs (TraefikService, Middleware, IngressRoute, ...) of the same version, copied beside the binary by the build. */
export function gatewayProxyCrdsPath(root = binaryDir()): string {
  return path.join(root, `traefik-${TRAEFIK_VERSION}`, 'traefik-crds.yaml');
}

/** Gateway API CRDs the proxy's informers need beyond the tests' own (GRPCRoute, BackendTLSPolicy, TLSRoute v1), of the version it was built against. */
export function gatewayProxyGatewayApiCrdPaths(root = binaryDir()): string[] {
  const dir = path.join(root, `traefik-${TRAEFIK_VERSION}`, 'gateway-api-crds');
  return ['grpcroutes', 'backendtlspolicies', 'tlsroutes'].map((kind) => path.join(dir, `gateway.networking.k8s.io_${kind}.yaml`));
}

/** Returns the cached proxy binary, building it first when missing (cold: minutes, once per machine). */
export function ensureGatewayProxyBinary(): string {
  const bin = gatewayProxyBinaryPath();
  if (fs.existsSync(bin)) return bin;
  execFileSync('bash', [path.join(repoRoot, 'hack', 'build-gateway-proxy.sh')], { stdio: 'inherit' });
  return bin;
}
