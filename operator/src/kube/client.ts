// A KubeConfig whose API calls reuse TLS connections. client-node 1.x builds a new https.Agent for
// every request, so each call pays a TLS handshake (most of the operator's CPU under load); here the
// first agent's options seed one keep-alive agent that every later request shares.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';

export class PooledKubeConfig extends k8s.KubeConfig {
  private pooled: https.Agent | undefined;

  override async applySecurityAuthentication(context: Parameters<k8s.KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    await super.applySecurityAuthentication(context);
    const agent = context.getAgent();
    // Proxy agents (socks, http proxy) keep their own behaviour.
    if (!(agent instanceof https.Agent) || agent.constructor !== https.Agent) return;
    this.pooled ??= new https.Agent({
      ...(agent as https.Agent & { options: https.AgentOptions }).options,
      keepAlive: true,
      maxSockets: 64,
      maxFreeSockets: 16,
    });
    context.setAgent(this.pooled);
  }
}
