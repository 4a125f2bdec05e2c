// The operator's configuration: the only place that reads process.env.
import net from 'node:net';
export interface OperatorConfig {
  /** Watch one namespace only; all namespaces when empty. */
  watchNamespace: string | undefined;
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one. */
  port: number;
  host: string;
  workers: number;
  logLevel: string;
  /** Unique name of this replica (leader election identity). */
  identity: string;
  /** Prometheus for rollouts whose analysis names none. */
  defaultPrometheusAddress: string | undefined;
  leaderElection: { enabled: boolean; namespace: string; name: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Where transitions are announced (notify/notifier.ts); both empty: nowhere. */
  notifications: { webhookUrl: string | undefined; slackUrl: string | undefined; secret: string | undefined };
  /**
   * The operator-served dashboard (dashboard/server.ts), off unless MODELROLLOUT_DASHBOARD_ADDRESS is set
   * (`host:port`, e.g. `0.0.0.0:8090`). It shows MODELROLLOUT_DASHBOARD_NAMESPACE (default: the watched namespace,
   * else `default`); read-only unless MODELROLLOUT_DASHBOARD_WRITE=true. Its Host check (against DNS rebinding)
   * accepts `localhost`, IP literals and the names in MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS (comma-separated host
   * names, e.g. the dashboard Service's DNS names; the chart sets them).
   */
  dashboard:
    | {
        address: string;
        port: number;
        namespace: string;
        write: boolean;
        allowedHosts: string[];
        /** The setting named when listening fails. */
        listenSetting: string;
        /** How write access is turned on, for the read-only refusal. */
        writeHint: string;
      }
    | undefined;
}

export class ConfigError extends Error {
  readonly code = 'InvalidConfig';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name}=${raw}: must be an integer in [${min}, ${max}]`);
    return n;
  };
  const leaseDurationS = int('MODELROLLOUT_LEASE_DURATION_SECONDS', 15, 2, 600);
  const renewDeadlineS = int('MODELROLLOUT_RENEW_DEADLINE_SECONDS', 10, 1, 600);
  // Fencing needs the old leader to stop writing before anyone else may acquire (client-go's rule).
  if (renewDeadlineS >= leaseDurationS) {
    throw new ConfigError(`MODELROLLOUT_RENEW_DEADLINE_SECONDS=${renewDeadlineS}: must be less than MODELROLLOUT_LEASE_DURATION_SECONDS (${leaseDurationS})`);
  }
  const url = (name: string): string | undefined => {
    const raw = env[name];
    if (!raw) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(`${name}: not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`${name}: must be an http(s) URL, not ${parsed.protocol}`);
    return raw;
  };
  return {
    dashboard: dashboardConfig(env),
    notifications: {
      webhookUrl: url('MODELROLLOUT_NOTIFY_WEBHOOK_URL'),
      slackUrl: url('MODELROLLOUT_NOTIFY_SLACK_URL'),
      secret: env.MODELROLLOUT_NOTIFY_SECRET || undefined,
    },
    watchNamespace: env.MODELROLLOUT_WATCH_NAMESPACE || undefined,
    port: int('MODELROLLOUT_PORT', 8080, 0, 65535),
    host: env.MODELROLLOUT_HOST || '0.0.0.0',
    workers: int('MODELROLLOUT_WORKERS', 8, 1, 256),
    logLevel: env.MODELROLLOUT_LOG_LEVEL || 'info',
    identity: env.POD_NAME || `${env.HOSTNAME ?? 'operator'}-${process.pid}`,
    defaultPrometheusAddress: env.MODELROLLOUT_DEFAULT_PROMETHEUS_ADDRESS || undefined,
    leaderElection: {
      enabled: (env.MODELROLLOUT_LEADER_ELECT ?? 'true') !== 'false',
      namespace: env.MODELROLLOUT_LEASE_NAMESPACE || env.POD_NAMESPACE || 'default',
      name: env.MODELROLLOUT_LEASE_NAME || 'modelrollout-operator',
      leaseDurationMs: leaseDurationS * 1000,
      renewDeadlineMs: renewDeadlineS * 1000,
      retryPeriodMs: int('MODELROLLOUT_RETRY_PERIOD_SECONDS', 2, 1, 60) * 1000,
    },
  };
}

function dashboardConfig(env: NodeJS.ProcessEnv): OperatorConfig['dashboard'] {
  const raw = env.MODELROLLOUT_DASHBOARD_ADDRESS;
  if (!raw) return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(raw);
  const port = Number(match?.[2]);
  const host = match?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '';
  if (!match || port > 65535 || !(net.isIP(host) || DNS_NAME.test(host)))
    throw new ConfigError(`MODELROLLOUT_DASHBOARD_ADDRESS=${raw}: must be host:port (an IP address or a host name, no scheme or path), e.g. 0.0.0.0:8090`);
  const write = env.MODELROLLOUT_DASHBOARD_WRITE ?? 'false';
  if (write !== 'true' && write !== 'false') throw new ConfigError(`MODELROLLOUT_DASHBOARD_WRITE=${write}: must be true or false`);
  return {
    address: host,
    port,
    namespace: env.MODELROLLOUT_DASHBOARD_NAMESPACE || env.MODELROLLOUT_WATCH_NAMESPACE || 'default',
    write: write === 'true',
    allowedHosts: allowedHosts(env.MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS ?? ''),
    listenSetting: 'MODELROLLOUT_DASHBOARD_ADDRESS',
    writeHint: 'set MODELROLLOUT_DASHBOARD_WRITE=true (chart: dashboard.write) on the operator',
  };
}

/** A DNS name (RFC 1123 labels), as a listen address or a Host the dashboard answers to. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: comma-separated host names or IP addresses (no port, scheme or path). */
function allowedHosts(raw: string): string[] {
  const names = raw
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  const bad = names.find((h) => !DNS_NAME.test(h) && !net.isIP(h.replace(/^\[(.*)\]$/, '$1')));
  if (bad !== undefined)
    throw new ConfigError(`MODELROLLOUT_DASHBOARD_ALLOWED_HOSTS: "${bad}" is not a host name or IP address (comma-separated, no port, scheme or path)`);
  return names.map((h) => (net.isIPv6(h) ? `[${h}]` : h));
}
