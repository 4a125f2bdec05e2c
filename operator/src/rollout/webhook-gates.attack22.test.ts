// Attack on #22's gate webhooks (docs/attack-22.md): what the pure side says about a gate, and what it accepts.
import { describe, expect, it } from 'vitest';
import { expectNoShortfallAfterEach, spec, stableWorld, startRollout } from './simulated-cluster.test-support.js';
import { parseWebhooks, type WebhookGate } from './webhook-gates.js';

expectNoShortfallAfterEach();

const preRollout: WebhookGate = { name: 'load-test', type: 'pre-rollout', url: 'http://tests.ml/pre', timeoutMs: 10_000, metadata: {} };

describe('attack22: spec.webhooks validation', () => {
  // F3: the check is a regular expression (^https?://\S+$); a URL that cannot be parsed passes it, and the rollout
  // then holds forever with "request failed: Invalid URL" instead of an InvalidSpec naming the field.
  it.each(['http://[not-a-host/check', 'http://exa%zzmple/', 'https://:443/gate'])('refuses an unparsable url %s, naming the field', (url) => {
    const errors: string[] = [];
    expect(parseWebhooks([{ name: 'smoke', type: 'pre-rollout', url }], errors)).toEqual([]);
    expect(errors).toEqual([expect.stringMatching(/^spec\.webhooks\[0\]\.url: /)]);
  });
});

describe('attack22: a gate hold is announced', () => {
  // F2: a hold writes only status.webhookGate and the Progressing condition; no Kubernetes event (nor history entry)
  // says which gate holds the rollout, so `kubectl describe` / `get <name>`'s event list and the dashboard's
  // timeline show nothing while a rollout sits at 0 % for hours. Flagger records "Halt advancement … pre-rollout
  // check … failed" as an event.
  it('records one event naming the gate when it starts holding the rollout', () => {
    const w = startRollout(stableWorld(spec({ webhooks: [preRollout] })));
    w.run((x) => x.status.webhookGate !== undefined);
    w.step();
    const events = w.log.filter((a) => a.kind === 'event' && a.message.includes('load-test'));
    expect(events).toHaveLength(1);
  });
});
