// What a kubelet would hand a container: its env (plain values and downward-API fields), the port it
// serves and the readiness probe to poll. Pure: reads the Pod object only.
import type * as k8s from '@kubernetes/client-node';

/** The runtime's readiness endpoint, probed when the pod declares no httpGet readiness probe. */
export const DEFAULT_READINESS_PATH = '/readyz';
const DEFAULT_PORT = 8080;

export interface ReadinessProbe {
  path: string;
  port: number;
  periodMs: number;
  initialDelayMs: number;
  timeoutMs: number;
  /** Consecutive failures that turn a Ready pod unready. */
  failureThreshold: number;
}

/** The container the runner runs: the first one (the runtime; sidecars are not run). */
export function mainContainer(pod: k8s.V1Pod): k8s.V1Container {
  const container = pod.spec?.containers[0];
  if (!container) throw new Error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no container`);
  return container;
}

/** The runtime's HTTP port: the port named `http` (as the operator names it), else the first, else 8080. */
export function servingPort(container: k8s.V1Container): number {
  return (container.ports?.find((p) => p.name === 'http') ?? container.ports?.[0])?.containerPort ?? DEFAULT_PORT;
}

/**
 * The container's env as the kubelet resolves it: `value`s, and `valueFrom.fieldRef` for the downward-API
 * fields the operator uses (metadata.name/namespace/uid, labels['k'], annotations['k'], status.podIP,
 * spec.nodeName). Other sources (ConfigMap, Secret, resource fields) are returned in `unsupported`.
 * https://kubernetes.io/docs/concepts/workloads/pods/downward-api/#downwardapi-fieldRef
 */
export function containerEnv(pod: k8s.V1Pod, container: k8s.V1Container): { env: Record<string, string>; unsupported: string[] } {
  const env: Record<string, string> = {};
  const unsupported: string[] = [];
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.fieldRef) {
      const v = fieldValue(pod, e.valueFrom.fieldRef.fieldPath);
      if (v === undefined) unsupported.push(`${e.name} (fieldRef ${e.valueFrom.fieldRef.fieldPath})`);
      else env[e.name] = v;
    } else if (e.valueFrom) unsupported.push(`${e.name} (${Object.keys(e.valueFrom).join(', ')})`);
    else env[e.name] = '';
  }
  return { env, unsupported };
}

/** $(VAR) references to earlier variables, as the kubelet expands them; $$ escapes. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => (m === '$$' ? '$' : (env[name!] ?? m)));
}

function fieldValue(pod: k8s.V1Pod, fieldPath: string): string | undefined {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[keyed[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': pod.status?.podIP,
    'status.hostIP': pod.status?.hostIP,
  };
  return fields[fieldPath];
}

/**
 * The container's httpGet readiness probe (port by number or by container-port name), with the
 * Kubernetes defaults; without one, `/readyz` on the serving port every second, so readiness still
 * waits for the model load and warm-up.
 * https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/#configure-probes
 */
export function readinessProbe(container: k8s.V1Container): ReadinessProbe {
  const probe = container.readinessProbe;
  const httpGet = probe?.httpGet;
  const port = httpGet ? probePort(container, httpGet.port) : servingPort(container);
  return {
    path: httpGet?.path ?? DEFAULT_READINESS_PATH,
    port,
    periodMs: 1000 * (probe?.periodSeconds ?? (httpGet ? 10 : 1)),
    initialDelayMs: 1000 * (probe?.initialDelaySeconds ?? 0),
    timeoutMs: 1000 * (probe?.timeoutSeconds ?? 1),
    failureThreshold: probe?.failureThreshold ?? 3,
  };
}

function probePort(container: k8s.V1Container, port: k8s.IntOrString): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port)?.containerPort;
  if (named !== undefined) return named;
  if (/^\d+$/.test(port)) return Number(port);
  throw new Error(`readinessProbe.httpGet.port ${port}: no container port of that name`);
}
