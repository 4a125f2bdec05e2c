// MeshDataPlaneStandIn: what a Gateway API implementation or Istio sidecar would do with the route,
// played by a small load generator. It reads the managed HTTPRoute rule's weights (and mirror filter)
// as the operator wrote them, maps the stable/candidate Services to the inference process of the
// model version each one serves, and sends real generation requests split by those weights.
import * as k8s from '@kubernetes/client-node';
import type { InferenceFleet } from './inference-fleet.js';

export interface TrafficCounts {
  stable: number;
  candidate: number;
  mirrored: number;
  failed: number;
}

export class MeshDataPlaneStandIn {
  readonly counts: TrafficCounts = { stable: 0, candidate: 0, mirrored: 0, failed: 0 };
  private weights = { stable: 100, candidate: 0, mirror: 0 };
  private versions: { stable?: string; candidate?: string } = {};
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
    private readonly routeName: string,
    private readonly rolloutName: string,
    private readonly fleet: InferenceFleet,
    private readonly concurrency = 3,
  ) {}

  start(): void {
    this.running = true;
    this.loops = [this.watchRoute(), ...Array.from({ length: this.concurrency }, () => this.sendLoop())];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async watchRoute(): Promise<void> {
    const custom = this.kc.makeApiClient(k8s.CustomObjectsApi);
    while (this.running) {
      try {
        const route = (await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespace: this.namespace, name: this.routeName })) as { spec: { rules: { backendRefs?: { name: string; weight?: number }[]; filters?: { type: string; requestMirror?: { percent?: number } }[] }[] } };
        const rule = route.spec.rules[0]!;
        const w = (suffix: string) => rule.backendRefs?.find((b) => b.name.endsWith(suffix))?.weight ?? (rule.backendRefs?.length === 1 && rule.backendRefs[0]!.name.endsWith(suffix) ? 1 : 0);
        const mirror = rule.filters?.find((f) => f.type === 'RequestMirror')?.requestMirror?.percent ?? 0;
        this.weights = { stable: w('-stable'), candidate: w('-candidate'), mirror };
        const ro = (await custom.getNamespacedCustomObject({ group: 'modelrollout.dev', version: 'v1alpha1', plural: 'modelrollouts', namespace: this.namespace, name: this.rolloutName })) as { status?: { stable?: { modelVersion: string }; candidate?: { modelVersion: string } } };
        this.versions = { stable: ro.status?.stable?.modelVersion, candidate: ro.status?.candidate?.modelVersion };
      } catch {
        // keep the last known weights; the route may be mid-update
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  private pick(): 'stable' | 'candidate' {
    const total = this.weights.stable + this.weights.candidate;
    if (total <= 0) return 'stable';
    return Math.random() * total < this.weights.candidate ? 'candidate' : 'stable';
  }

  private async sendLoop(): Promise<void> {
    while (this.running) {
      const side = this.pick();
      // The candidate Service selects the stable revision when there is no candidate.
      const version = side === 'candidate' ? (this.versions.candidate ?? this.versions.stable) : this.versions.stable;
      const target = version ? this.fleet.processes.get(version) : undefined;
      if (!target) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (this.weights.mirror > 0 && this.versions.candidate && Math.random() * 100 < this.weights.mirror) {
        const shadow = this.fleet.processes.get(this.versions.candidate);
        if (shadow) void this.generate(shadow.url).then(() => this.counts.mirrored++, () => undefined);
      }
      const ok = await this.generate(target.url);
      this.counts[side]++;
      if (!ok) this.counts.failed++;
    }
  }

  private async generate(url: string): Promise<boolean> {
    try {
      const res = await fetch(`${url}/v1/generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'a paper boat drifting down a rainy street', seed: Math.floor(Math.random() * 1e6) }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.status === 429) await new Promise((r) => setTimeout(r, 100));
      return res.ok;
    } catch {
      return false;
    }
  }
}
