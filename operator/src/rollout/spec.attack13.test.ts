// Attack on issue 13 item 2: "every generated name ≤ 63". The CRD holds service.name to 53 so that
// `<name>-candidate` fits, and parseSpec() says it guards against objects stored before a schema change
// (observe() does so for metadata.name via rolloutNameProblem) — but not for service.name: a legacy
// 60-character service.name is accepted as valid, and the Service create is then refused with 422.
import { describe, expect, it } from 'vitest';
import { parseSpec, type StoredSpec } from './spec.js';

function stored(serviceName: string): StoredSpec {
  return {
    replicas: 4,
    model: { name: 'wan', version: 'v2' },
    gpu: { resourceName: 'nvidia.com/gpu', perReplica: 1 },
    template: { spec: { containers: [{ name: 'server' }] } },
    service: { name: serviceName, port: 80, targetPort: 8080 },
    trafficRouting: { gatewayAPI: { httpRoute: 't2v', ruleIndex: 0 } },
    strategy: { steps: [1, 5, 20, 50, 100] },
  };
}

describe('attack-13: service.name stored before the 53-character rule', () => {
  it('a 60-character service.name (`-candidate` would make 70) is reported as an invalid spec, naming the field', () => {
    const { errors } = parseSpec(stored('s'.repeat(60)));
    expect(errors.join('; ')).toContain('spec.service.name');
  });
});
