// The demo's timeline as an SVG (issue 22): the candidate's weight over time in each scenario, as the rollout's
// status said it at each poll, with the ready replicas of each side (model scenarios) and each scenario's
// outcome. Written next to the printed summary; hand-written SVG so it opens in any browser with no library.

/** One poll of a rollout's status. `t` is seconds since the demo started. */
export interface TimelineSample {
  t: number;
  scenario: string;
  /** Percent of requests on the candidate (the mirror percent is not traffic users get). */
  candidateWeight: number;
  readyStable?: number;
  readyCandidate?: number;
}

interface Outcome {
  t: number;
  scenario: string;
  outcome: string;
}

const WIDTH = 960;
const HEIGHT = 360;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 64 };
/** Colour-blind-safe (Okabe–Ito) colours, one per scenario in turn. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

export class Timeline {
  private readonly samples: TimelineSample[] = [];
  private readonly outcomes: Outcome[] = [];

  add(sample: TimelineSample): void {
    const last = this.samples[this.samples.length - 1];
    // Keep the changes only (and the first sample of each scenario): a poll every 500 ms repeats itself.
    if (
      last &&
      last.scenario === sample.scenario &&
      last.candidateWeight === sample.candidateWeight &&
      last.readyStable === sample.readyStable &&
      last.readyCandidate === sample.readyCandidate
    )
      return;
    this.samples.push(sample);
  }

  end(t: number, scenario: string, outcome: string): void {
    this.outcomes.push({ t, scenario, outcome });
  }

  /** The SVG document: a step line of the candidate's weight per scenario, its outcome at its end. */
  svg(): string {
    const t0 = Math.min(...this.samples.map((s) => s.t), ...this.outcomes.map((o) => o.t));
    const t1 = Math.max(...this.samples.map((s) => s.t), ...this.outcomes.map((o) => o.t), t0 + 1);
    const plotW = WIDTH - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (t: number) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (w: number) => MARGIN.top + (1 - w / 100) * plotH;
    const scenarios = [...new Set([...this.samples.map((s) => s.scenario), ...this.outcomes.map((o) => o.scenario)])];
    const parts: string[] = [];
    parts.push(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="11">`,
      `<title id="title">ModelRollout demo timeline</title>`,
      `<desc id="desc">The candidate's share of requests (percent) over the demo's time (seconds), one line per scenario, and how each scenario ended.</desc>`,
      `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    );
    for (const w of [0, 25, 50, 75, 100]) {
      parts.push(
        `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(w).toFixed(1)}" y2="${y(w).toFixed(1)}" stroke="#dddddd"/>`,
        `<text x="${MARGIN.left - 6}" y="${(y(w) + 4).toFixed(1)}" text-anchor="end">${w} %</text>`,
      );
    }
    const tickStep = niceStep((t1 - t0) / 8);
    for (let t = Math.ceil(t0 / tickStep) * tickStep; t <= t1; t += tickStep)
      parts.push(`<text x="${x(t).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle">${Math.round(t)} s</text>`);
    parts.push(`<text x="14" y="${MARGIN.top + plotH / 2}" transform="rotate(-90 14 ${MARGIN.top + plotH / 2})" text-anchor="middle">candidate weight</text>`);
    scenarios.forEach((scenario, i) => {
      const colour = COLOURS[i % COLOURS.length]!;
      const points = this.samples.filter((s) => s.scenario === scenario);
      const outcome = this.outcomes.find((o) => o.scenario === scenario);
      // A step line: each weight holds until the next sample.
      const path: string[] = [];
      points.forEach((p, j) => {
        if (j > 0) path.push(`${x(p.t).toFixed(1)},${y(points[j - 1]!.candidateWeight).toFixed(1)}`);
        path.push(`${x(p.t).toFixed(1)},${y(p.candidateWeight).toFixed(1)}`);
      });
      const last = points[points.length - 1];
      if (last && outcome) path.push(`${x(outcome.t).toFixed(1)},${y(last.candidateWeight).toFixed(1)}`);
      const label = `${escape(scenario)}${outcome ? `: ${escape(outcome.outcome)}` : ''}`;
      parts.push(`<g><title>${label}</title><polyline fill="none" stroke="${colour}" stroke-width="2" points="${path.join(' ')}"/>`);
      if (outcome) parts.push(`<circle cx="${x(outcome.t).toFixed(1)}" cy="${y(last?.candidateWeight ?? 0).toFixed(1)}" r="4" fill="${colour}"/>`);
      parts.push('</g>');
      const row = Math.floor(i / 2);
      const col = i % 2;
      const lx = MARGIN.left + col * (plotW / 2);
      const ly = HEIGHT - MARGIN.bottom + 30 + row * 14;
      parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="10" fill="${colour}"/>`, `<text x="${lx + 14}" y="${ly + 1}">${label}</text>`);
    });
    parts.push('</svg>');
    return `${parts.join('\n')}\n`;
  }
}

function niceStep(raw: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  return steps.find((s) => s >= raw) ?? 600;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
