// The tables of `npm run bench:peer`: one row per measure, one column per tool (the mean over runs, with the
// range when there were several), and ModelRollout's ratio to the best peer (every measure is lower-is-better).

export interface Row {
  tool: string;
  run: number;
  values: Record<string, number>;
  /** The run ended without figures: what its cells say ("crashed", "did not hold up"); `note` says why. */
  failed?: string;
  note?: string;
}

const MODELROLLOUT = 'ModelRollout';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function figures(values: number[]): string {
  if (values.length === 0) return '—';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return fmt(mean);
  return `${fmt(mean)} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

/** A tool's cell for one measure: the figures of its runs that have it, and how many runs failed (and how), if any. */
export function cell(rows: Row[], tool: string, measure: string): string {
  const own = rows.filter((r) => r.tool === tool);
  const values = own.filter((r) => measure in r.values).map((r) => r.values[measure]!);
  const failed = own.filter((r) => r.failed !== undefined).map((r) => r.failed!);
  if (failed.length === 0) return figures(values);
  const how = [...new Set(failed)].join(', ');
  if (values.length === 0) return failed.length === own.length ? how : '—';
  return `${figures(values)}; ${failed.length} of ${own.length} runs ${how}`;
}

function meanOf(rows: Row[], tool: string, measure: string): number | undefined {
  const vs = rows.filter((r) => r.tool === tool && measure in r.values).map((r) => r.values[measure]!);
  return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : undefined;
}

function ratio(rows: Row[], tools: string[], measure: string): string {
  const own = meanOf(rows, MODELROLLOUT, measure);
  const peers = tools
    .filter((t) => t !== MODELROLLOUT)
    .map((t) => [t, meanOf(rows, t, measure)] as const)
    .filter((p): p is readonly [string, number] => p[1] !== undefined);
  if (own === undefined || peers.length === 0) return '—';
  const [bestTool, best] = peers.reduce((a, b) => (b[1] < a[1] ? b : a));
  const partial = [MODELROLLOUT, bestTool].map((t) => finishedOf(rows, t)).filter((f) => f !== '');
  // A mean over the runs that finished leaves out the ones that crashed or did not hold up: say so beside the ratio.
  const over = partial.length ? `; only finished runs: ${partial.join(', ')}` : '';
  if (best === 0) return own === 0 ? `= (${bestTool}${over})` : `∞ (${bestTool} 0${over})`;
  return `${(own / best).toFixed(2)} (${bestTool}${over})`;
}

/** "Flagger 1 of 2" when some of the tool's runs failed; '' when all finished. */
function finishedOf(rows: Row[], tool: string): string {
  const own = rows.filter((r) => r.tool === tool);
  const failed = own.filter((r) => r.failed !== undefined).length;
  return failed ? `${tool} ${own.length - failed} of ${own.length}` : '';
}

export function printTable(title: string, rows: Row[]): void {
  const tools = [...new Set(rows.map((r) => r.tool))];
  // Every tool failed: one line saying so instead of a table without rows.
  const measures = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  if (measures.length === 0) measures.push('result');
  const header = ['measure', ...tools, 'ModelRollout ÷ best peer'];
  const body = measures.map((m) => [m, ...tools.map((t) => cell(rows, t, m)), ratio(rows, tools, m)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  for (const r of rows) if (r.note) console.log(`  ${r.tool} run ${r.run}: ${r.note}`);
}
