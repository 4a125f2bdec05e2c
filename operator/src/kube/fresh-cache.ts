// Informer caches lag behind our own writes by one watch event. A reconcile that reads its own stale
// status could redo a step it already took (and move a weight backwards), so objects returned by our
// writes are kept in an overlay and the fresher of cache and overlay wins. resourceVersion is opaque in
// principle; on etcd-backed API servers it is an increasing integer, which is all this relies on, and
// anything non-numeric falls back to the cache.
import type * as k8s from '@kubernetes/client-node';

export interface ObjectSource<T extends k8s.KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export class FreshCache<T extends k8s.KubernetesObject> implements ObjectSource<T> {
  private readonly written = new Map<string, T>();

  constructor(private readonly cache: ObjectSource<T>) {}

  remember(obj: T): void {
    this.written.set(keyOf(obj.metadata?.namespace, obj.metadata?.name), obj);
  }

  forget(name: string, namespace?: string): void {
    this.written.delete(keyOf(namespace, name));
  }

  get(name: string, namespace?: string): T | undefined {
    const key = keyOf(namespace, name);
    const cached = this.cache.get(name, namespace);
    const mine = this.written.get(key);
    if (!mine) return cached;
    if (cached && !isOlder(cached, mine)) {
      this.written.delete(key);
      return cached;
    }
    return mine;
  }

  /** Objects we wrote in `namespace` that the cache may not have yet. */
  writtenIn(namespace: string): T[] {
    return [...this.written.values()].filter((o) => o.metadata?.namespace === namespace);
  }

  list(namespace?: string): readonly T[] {
    const items = this.cache.list(namespace);
    if (this.written.size === 0) return items;
    const out = items.map((o) => this.get(o.metadata!.name!, o.metadata?.namespace) ?? o);
    for (const mine of this.written.values()) {
      if ((namespace === undefined || mine.metadata?.namespace === namespace) && !items.some((o) => o.metadata?.uid === mine.metadata?.uid)) out.push(mine);
    }
    return out;
  }
}

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

function isOlder(a: k8s.KubernetesObject, b: k8s.KubernetesObject): boolean {
  const ra = Number(a.metadata?.resourceVersion);
  const rb = Number(b.metadata?.resourceVersion);
  if (!Number.isFinite(ra) || !Number.isFinite(rb)) return false;
  return ra < rb;
}
