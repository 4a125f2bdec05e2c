// core/v1 Events for a ModelRollout (what `kubectl describe` and `kubectl get events` show).
import crypto from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
}

export class EventRecorder {
  constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly component: string,
    private readonly now: () => Date,
  ) {}

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const time = this.now();
    await this.core.createNamespacedEvent({
      namespace: target.namespace,
      body: {
        metadata: { name: `${target.name}.${crypto.randomBytes(8).toString('hex')}`, namespace: target.namespace },
        involvedObject: { apiVersion: target.apiVersion, kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      },
    });
  }
}
