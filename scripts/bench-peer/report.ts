// The tables of `npm run bench:peer`: one row per measure, one column per tool (the mean over runs, with the
// range when there were several), and ModelRollout's ratio to the best peer (every measure is lower-is-better).

export interface Row {
  tool: string;
  run: number;
  values: Record<string, number>;
  note?: string;
}

const MODELROLLOUT = 'ModelRollout';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(values: number[]): string {
  if (values.length === 0) return '—';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return fmt(mean);
  return `${fmt(mean)} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
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
  if (best === 0) return own === 0 ? `= (${bestTool})` : `∞ (${bestTool} 0)`;
  return `${(own / best).toFixed(2)} (${bestTool})`;
}

export function printTable(title: string, rows: Row[]): void {
  const tools = [...new Set(rows.map((r) => r.tool))];
  const measures = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  const header = ['measure', ...tools, 'ModelRollout ÷ best peer'];
  const body = measures.map((m) => [
    m,
    ...tools.map((t) => cell(rows.filter((r) => r.tool === t && m in r.values).map((r) => r.values[m]!))),
    ratio(rows, tools, m),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => line[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  for (const r of rows) if (r.note) console.log(`  ${r.tool} run ${r.run}: ${r.note}`);
}
