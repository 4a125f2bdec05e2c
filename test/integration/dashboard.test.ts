// The web dashboard (#22) in a real headless browser (Debian's Chromium, driven by playwright-core): the page renders a
// running rollout of the local control plane, follows it as it moves, and its Pause button pauses it; read-only mode
// shows no controls and refuses the POST. Screenshots go to a directory outside the repository, printed below.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { ANNOTATION_PAUSED, ANNOTATION_PROMOTE, type ModelRollout } from '../../operator/src/api/index.js';
import { kubeSource } from '../../operator/src/dashboard/kube-source.js';
import { startDashboard, TOKEN_HEADER } from '../../operator/src/dashboard/server.js';
import { startOperator } from './operator-process.js';
import { RolloutFixture } from './rollout-fixtures.js';
import { kubeConfig, testNamespace } from './support.js';

/** Named as the plugin names them. */
const PLUGIN = { listenSetting: '--address, --port', writeHint: 'start it with `kubectl modelrollout dashboard --write`' };

const kc = kubeConfig();
const kubeconfigPath = inject('kubeconfigPath');
/** Debian's package (hack/setup.sh installs it): playwright-core downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(os.tmpdir(), 'modelrollout-dashboard-shots');
const UI_TIMEOUT = 15_000;

/** A page that records script errors and console errors (a CSP refusal shows there), checked at the end. */
async function openPage(browser: Browser, url: string, problems: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

describe('dashboard', () => {
  it('shows a running rollout, follows it as it moves, and its Pause button pauses it; read-only offers no controls', async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    console.log(`dashboard screenshots: ${SHOTS}`);
    const ns = await testNamespace(kc, 'dash');
    const fx = new RolloutFixture(kc, ns);
    await fx.createRoute();
    const [, browser, rw, ro] = await Promise.all([
      startOperator(kubeconfigPath, ns),
      chromium.launch({ executablePath: CHROMIUM }),
      startDashboard({ source: kubeSource(kc, ns), namespace: ns, write: true, port: 0, address: '127.0.0.1', ...PLUGIN }),
      startDashboard({ source: kubeSource(kc, ns), namespace: ns, write: false, port: 0, address: '127.0.0.1', ...PLUGIN }),
    ]);
    onTestFinished(async () => {
      await browser.close();
      await Promise.all([rw.close(), ro.close()]);
    });
    await fx.create(fx.spec({ strategy: { stepDuration: '1h' } }));
    await fx.waitFor('stable Ready', (r) => fx.condition(r, 'Ready')?.status === 'True');
    await fx.setVersion('v2');
    await fx.waitFor('at 1 %', (r) => r.status?.weights?.candidate === 1);

    // The list: the rollout with its phase, step, weights and ready replicas per side.
    const problems: string[] = [];
    const page = await openPage(browser, rw.url, problems);
    const row = page.locator('tbody tr', { hasText: 't2v' });
    await row.locator('td[data-col=weights]', { hasText: '99 / 1' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await row.locator('td[data-col=phase]').textContent()).toBe('Progressing');
    expect(await row.locator('td[data-col=step]').textContent()).toBe('1/5 (1 %)');
    expect(await row.locator('td[data-col=ready-stable]').textContent()).toMatch(/^\d+\/\d+$/);
    await shot(page, '1-list');

    // The rollout's page, reached by keyboard: it follows the rollout when a promote moves it to 5 %.
    await page.getByRole('link', { name: 't2v' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('dd[data-field=weights]', { hasText: 'stable 99 / candidate 1' }).waitFor({ timeout: UI_TIMEOUT });
    await fx.annotate({ [ANNOTATION_PROMOTE]: new Date().toISOString() });
    await page.locator('dd[data-field=weights]', { hasText: 'stable 95 / candidate 5' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('svg.chart').count()).toBe(2);
    expect(await page.locator('svg.chart path').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#live').getAttribute('aria-live')).toBe('polite');
    await shot(page, '2-rollout-at-5');

    // Pause: the plugin's annotation on the object, the operator pauses, the page says so.
    await page.getByRole('button', { name: 'Pause' }).click();
    const paused = await fx.waitFor('paused', (r) => r.status?.phase === 'Paused', 20_000);
    expect(paused.metadata.annotations?.[ANNOTATION_PAUSED]).toBe('true');
    await page.locator('dd[data-field=phase]', { hasText: 'Paused' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('#live').textContent()).toMatch(/pause requested|t2v is now Paused/);
    await shot(page, '3-paused');

    // Read-only: the same page without buttons, and the control endpoint refuses.
    const readOnly = await openPage(browser, `${ro.url}rollouts/t2v`, problems);
    await readOnly.locator('dd[data-field=phase]', { hasText: 'Paused' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await readOnly.locator('button').count()).toBe(0);
    await shot(readOnly, '4-read-only');
    const refused = await fetch(`${ro.url}api/rollouts/t2v/resume`, { method: 'POST', headers: { [TOKEN_HEADER]: 'guess' } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/read-only.*--write/);
    expect((await fx.get()).status?.phase).toBe('Paused');
    expect(problems).toEqual([]);
  });

  it('renders measurements against bounds, their trend and the results of an experiment', async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString();
    // An object as the operator would leave it mid-experiment: the page reads only these fields (no cluster needed).
    const rollout = {
      metadata: { name: 'ab', namespace: 'ml' },
      spec: { analysis: { metrics: [{ template: 'error-rate' }, { template: 'latency-p99', max: 30, relative: { max: 1.5 } }] } },
      status: {
        phase: 'Progressing',
        weights: { stable: 80, candidate: 20 },
        replicas: { stable: { desired: 4, ready: 4 }, candidate: { desired: 1, ready: 1 } },
        currentStep: { index: 2, weight: 20, label: '3/5' },
        lastValidSpec: { steps: [1, 5, 20, 50, 100] },
        history: [1, 5, 20].map((w, i) => ({ time: at(i * 10), phase: 'Progressing', reason: `Step${i + 1}`, message: `to ${w} %`, weight: w })),
        analysis: {
          revision: 'b',
          metrics: [
            { name: 'latency-p99', kind: 'step', verdict: 'pass', value: 21.5, baseline: 20, samples: 812, message: 'latency-p99 21.5 s: pass', time: at(30) },
            { name: 'error-rate', kind: 'step', verdict: 'fail', value: 0.031, samples: 812, message: 'error-rate 0.031 over 0.01', time: at(30) },
          ],
          history: [19, 20.5, 21.5].map((value, i) => ({ time: at(i * 10), kind: 'step', name: 'latency-p99', verdict: 'pass', value })),
          breaches: { 'error-rate': at(25) },
          experiment: {
            assignment: { mode: 'userKey' },
            verdict: 'NonInferior',
            reason: 'every guardrail within its margin',
            units: { control: 1200, treatment: 1185 },
            srmP: 0.76,
            metrics: [{ name: 'clip-quality', role: 'goal', control: 0.71, treatment: 0.74, effect: 0.03, cs: [-0.01, 0.07], p: 0.21, power: 0.55 }],
          },
        },
      },
    } as unknown as ModelRollout;
    const [browser, d] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM }),
      startDashboard({
        source: { list: async () => [rollout], get: async () => ({ rollout, deployments: [], events: [] }), annotate: async () => true },
        namespace: 'ml',
        write: false,
        port: 0,
        address: '127.0.0.1',
        ...PLUGIN,
      }),
    ]);
    onTestFinished(async () => {
      await browser.close();
      await d.close();
    });
    const problems: string[] = [];
    const page = await openPage(browser, `${d.url}rollouts/ab`, problems);
    const latency = page.locator('tbody tr', { hasText: 'latency-p99' });
    await latency.waitFor({ timeout: UI_TIMEOUT });
    expect(await latency.locator('td[data-col=bounds]').textContent()).toBe('≤ 30; candidate ÷ stable ≤ 1.5; breaker > 45');
    expect(await latency.getByRole('img').getAttribute('aria-label')).toBe('latency-p99: 3 measurements from 19 to 21.5');
    expect(await page.locator('tbody tr', { hasText: 'error-rate' }).locator('td[data-col=verdict]').textContent()).toBe('fail');
    expect(await page.getByText('Breaker: error-rate breaching since').count()).toBe(1);
    expect(await page.locator('[data-field=experiment-verdict]').textContent()).toBe('Verdict: NonInferior — every guardrail within its margin');
    const goal = page.locator('tbody tr', { hasText: 'clip-quality' });
    expect(await goal.locator('td[data-col=cs]').textContent()).toBe('[-0.01, 0.07]');
    await shot(page, '5-analysis-and-experiment');
    expect(problems).toEqual([]);
  });
});
