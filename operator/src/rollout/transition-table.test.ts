// The transition table is code (rollout/transitions.ts): DecisionPass.transition() refuses a transition it does
// not list, and the simulated cluster checks every transition's From against it. Here: docs/architecture.md shows
// exactly that table, and every row of it is made by decide() in a simulated cluster, so a row decide() can no
// longer make (a transition removed from the code) fails too.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  acceptsShortfall,
  CANDIDATE,
  expectNoShortfallAfterEach,
  OTHER,
  spec,
  STABLE,
  stableWorld,
  startRollout,
  World,
} from './simulated-cluster.test-support.js';
import { transitionTable, TRANSITIONS, type TransitionRow } from './transitions.js';

expectNoShortfallAfterEach();

const DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'architecture.md');
const SHADOW = { shadow: { mirrorPercent: 10, durationMs: 60_000 } };

describe('the transition table', () => {
  it('docs/architecture.md shows the table the code refuses other transitions by', () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    const start = '<!-- transitions:start -->\n';
    const shown = doc.slice(doc.indexOf(start) + start.length, doc.indexOf('<!-- transitions:end -->')).trim();
    // On a difference, paste the expected table (transitionTable()) between the markers.
    expect(shown).toBe(transitionTable());
  });

  it('decide() makes every transition the table lists', () => {
    const made = new Set<TransitionRow>();
    const record = (w: World) => w.transitions.forEach((t) => made.add(t.row));

    // Initializing → Healthy, a whole rollout, with and without shadow.
    for (const over of [{}, SHADOW]) {
      const w = startRollout(stableWorld(spec(over)));
      w.run((x) => x.status.stable?.revision === CANDIDATE && x.condition('Ready') === 'True');
      record(w);
    }
    // An invalid first spec, then fixed.
    const invalid = new World(spec(), STABLE);
    invalid.invalid = true;
    invalid.step();
    invalid.invalid = false;
    invalid.settled();
    // An invalid spec on a Healthy rollout, then fixed: back to Healthy at once.
    invalid.invalid = true;
    invalid.step();
    invalid.invalid = false;
    invalid.step();
    record(invalid);
    // Paused by a person, at a manual gate, by analysis; a step's analysis fails.
    const paused = startRollout(stableWorld());
    paused.run((x) => x.status.currentStep !== undefined);
    paused.controls = { paused: true };
    paused.step();
    record(paused);
    const gated = startRollout(stableWorld(spec({ manualGates: [5] })));
    gated.run((x) => x.status.phase === 'Paused');
    record(gated);
    const analysisPaused = startRollout(stableWorld());
    analysisPaused.analysis = { result: 'pause', message: 'no data' };
    analysisPaused.run((x) => x.status.phase === 'Paused');
    record(analysisPaused);
    // Rolled back by analysis, then a new template (restart) and a retry, with and without shadow.
    for (const over of [{}, SHADOW]) {
      const w = startRollout(stableWorld(spec(over)));
      acceptsShortfall.add(w);
      w.analysis = { result: 'fail', reason: 'ErrorRate', message: 'bad' };
      w.run((x) => x.status.phase === 'RolledBack' && x.route.candidateWeight === 0);
      w.analysis = { result: 'pass' };
      startRollout(w, OTHER, 'v4');
      w.step();
      w.controls = { paused: false, abort: 'a1' };
      w.run((x) => x.status.phase === 'Aborted' && x.route.candidateWeight === 0);
      w.controls = { paused: false, abort: 'a1', retry: 'r1' };
      w.step();
      record(w);
    }
    // The breaker; the template reverted mid-rollout; the progress deadline.
    const tripped = startRollout(stableWorld());
    acceptsShortfall.add(tripped);
    tripped.run((x) => (x.route.candidateWeight ?? 0) > 0);
    tripped.breaker = { tripped: true, reason: 'LatencyP99', message: 'p99 9 s > 4 s for 30 s' };
    tripped.run((x) => x.status.phase === 'RolledBack' && x.route.candidateWeight === 0);
    tripped.breaker = { tripped: false };
    tripped.revision = STABLE;
    tripped.spec = spec();
    tripped.settled();
    record(tripped);
    const reverted = startRollout(stableWorld());
    reverted.run((x) => (x.route.candidateWeight ?? 0) >= 5);
    reverted.revision = STABLE;
    reverted.spec = spec();
    reverted.settled();
    record(reverted);
    const stuck = startRollout(stableWorld(spec({ progressDeadlineMs: 30_000 })));
    stuck.readyLimit[CANDIDATE] = 0;
    stuck.run((x) => x.status.phase === 'Aborted');
    record(stuck);

    const missing = (TRANSITIONS as readonly TransitionRow[]).filter((r) => !made.has(r)).map((r) => `${r.to} | ${r.reason}`);
    expect(missing).toEqual([]);
  });
});
