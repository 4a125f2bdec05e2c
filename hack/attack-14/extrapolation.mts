// attack-14 reproduction: one failed request, real Prometheus, scrape 1s, increase over [2s] (= 1m window / 30s scrape).
// Run: npx tsx hack/attack-14/extrapolation.mts
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPrometheus } from '../../test/env/prometheus.js';
let ok = 0, err = 0;
const srv = http.createServer((_, res) => res.end(`t2v_requests_total{outcome="ok"} ${ok}\nt2v_requests_total{outcome="server_error"} ${err}\n`));
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
const port = (srv.address() as any).port;
const prom = await startPrometheus([`127.0.0.1:${port}`], '1s');
try {
  await prom.waitForSeries('t2v_requests_total');
  await sleep(4000);
  err = 1; // one failed request, nothing else
  const q = async (e: string) => { const b: any = await fetch(`${prom.address}/api/v1/query?query=${encodeURIComponent(e)}`).then((r) => r.json()); return b.data.result.map((x: any) => x.value[1]).join(','); };
  for (let i = 0; i < 12; i++) {
    await sleep(250);
    console.log(i, 'events', await q('sum(increase(t2v_requests_total{outcome=~"server_error|timeout"}[2s]))'), 'trials', await q('sum(increase(t2v_requests_total{outcome=~"ok|server_error|timeout"}[2s]))'), 'trials[3s]', await q('sum(increase(t2v_requests_total{outcome=~"ok|server_error|timeout"}[3s]))'));
  }
} finally { await prom.stop(); srv.close(); }
