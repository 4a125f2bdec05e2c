// The dashboard's one page, its script and its style, as strings: they ship inside dist/ with the compiled server, no
// bundler or copy step. Plain DOM and fetch, no framework: the page polls the JSON every 2 s and keeps the rollout's
// timeline (weights and ready replicas over time) in memory, seeded from status.history. Everything from the cluster
// is put in as text (textContent), never as HTML.

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function pageHtml(o: { namespace: string; write: boolean; token: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="modelrollout-namespace" content="${escapeAttr(o.namespace)}">
<meta name="modelrollout-write" content="${o.write ? 'true' : 'false'}">
<meta name="modelrollout-token" content="${escapeAttr(o.token)}">
<title>ModelRollout dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">ModelRollout</span> <span>namespace <strong>${escapeAttr(o.namespace)}</strong></span>
<span class="mode">${o.write ? 'write access: controls enabled' : 'read-only'}</span>
<span id="updated" class="updated">loading…</span></header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
<div id="error" role="alert" class="error" hidden></div>
<div id="live" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
<noscript><p>The dashboard needs JavaScript; <code>kubectl modelrollout get</code> shows the same in text.</p></noscript>
</body>
</html>
`;
}

export const APP_CSS = `
:root { color-scheme: light; --fg: #111; --muted: #444; --bg: #fff; --line: #767676; --accent: #0b57d0; --stable: #1d4e89; --candidate: #a33b00; --bad: #a50e0e; --ok: #0d652d; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
.top { display: flex; flex-wrap: wrap; gap: 1rem; align-items: baseline; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: #f3f3f3; }
.brand { font-weight: 700; }
.mode { font-size: .9rem; color: var(--muted); }
.updated { margin-left: auto; font-size: .9rem; color: var(--muted); }
main { padding: 1rem; max-width: 80rem; }
h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; margin: .3rem 0; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #e8e8e8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td[data-col=step], td[data-col=weights], td[data-col=time] { white-space: nowrap; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.verdict-fail, .verdict-error, .phase-RolledBack, .phase-Aborted, .phase-Invalid { color: var(--bad); font-weight: 600; }
.verdict-pass, .phase-Healthy { color: var(--ok); }
.controls { display: flex; flex-wrap: wrap; gap: .5rem; margin: .6rem 0; }
button { font: inherit; padding: .35rem .9rem; border: 2px solid var(--fg); border-radius: 4px; background: #fff; color: var(--fg); cursor: pointer; }
button:hover { background: #eee; }
button.danger { border-color: var(--bad); color: var(--bad); }
button[disabled] { opacity: .6; cursor: wait; }
figure { margin: .4rem 0; }
figcaption { font-weight: 600; }
.chart { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
.chart text { font-size: 11px; fill: var(--fg); }
.legend { display: flex; gap: 1.2rem; font-size: .9rem; margin: .2rem 0 .6rem; }
.swatch { display: inline-block; width: 1.6rem; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: .3rem; }
.swatch.stable { border-color: var(--stable); }
.swatch.candidate { border-color: var(--candidate); border-top-style: dashed; }
.error { margin: 1rem; padding: .6rem 1rem; border: 2px solid var(--bad); color: var(--bad); background: #fff4f4; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .3rem .6rem; z-index: 1; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.note { color: var(--muted); }
`;

// The script is plain ES2020 in a string: no template literals inside (this file's own delimiters), no build step.
export const APP_JS = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  var SVG = 'http://www.w3.org/2000/svg';
  var meta = function (n) { var m = document.querySelector('meta[name="modelrollout-' + n + '"]'); return m ? m.getAttribute('content') || '' : ''; };
  var token = meta('token');
  var write = meta('write') === 'true';
  var ns = meta('namespace');
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var errorBox = document.getElementById('error');
  var updated = document.getElementById('updated');

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.append(c instanceof Node ? c : String(c)); });
    return e;
  }
  function svg(tag, attrs, children) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    (children || []).forEach(function (c) { e.append(c instanceof Node ? c : String(c)); });
    return e;
  }
  function fmt(x) { return x === undefined || x === null ? '-' : String(+Number(x).toPrecision(4)); }
  function time(t) { return t ? new Date(t).toLocaleTimeString() : '-'; }
  function cell(c) { return c instanceof Node ? c : String(c === undefined || c === null ? '-' : c); }
  function table(caption, headers, rows, cls) {
    var thead = el('thead', {}, [el('tr', {}, headers.map(function (h) { return el('th', { scope: 'col' }, [h]); }))]);
    var tbody = el('tbody', {}, rows.map(function (r) {
      return el('tr', {}, r.map(function (c, i) { return el('td', { 'data-col': cls[i] || '' , class: cls[i] === 'num' ? 'num' : '' }, [cell(c)]); }));
    }));
    return el('table', {}, [el('caption', {}, [caption]), thead, tbody]);
  }
  function announce(msg) { if (msg) live.textContent = msg; }
  function setError(msg) { errorBox.hidden = !msg; errorBox.textContent = msg; }
  function weights(r) { return r.weights ? r.weights.stable + ' / ' + r.weights.candidate + (r.weights.mirrorPercent ? ' (mirror ' + r.weights.mirrorPercent + ')' : '') : '-'; }
  function ready(r, side) { return r.replicas ? r.replicas[side].ready + '/' + r.replicas[side].desired : '-'; }
  function version(ref) { return ref ? ref.modelVersion + ' (' + ref.revision + ')' : '-'; }
  function phase(p) { return el('span', { class: 'phase-' + p }, [p]); }

  async function getJson(url, init) {
    var r = await fetch(url, Object.assign({ headers: { accept: 'application/json' } }, init || {}));
    var body = await r.json().catch(function () { return { error: r.status + ' ' + r.statusText }; });
    if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    return body;
  }
  function poll(fn) {
    var timer;
    var run = async function () {
      clearTimeout(timer);
      try { await fn(); setError(''); } catch (e) { setError(String(e && e.message || e)); }
      timer = setTimeout(run, POLL_MS);
    };
    run();
    return run;
  }
  function stamp(t) { updated.textContent = 'updated ' + time(t) + ' (every 2 s)'; }

  var route = /^\/rollouts\/([^/]+)\/?$/.exec(location.pathname);
  if (route) detailPage(decodeURIComponent(route[1])); else listPage();

  function listPage() {
    document.title = 'ModelRollouts in ' + ns;
    var region = el('div', { id: 'rollouts' });
    main.replaceChildren(el('h1', {}, ['ModelRollouts in namespace ' + ns]), region);
    var seen = {};
    poll(async function () {
      var data = await getJson('/api/rollouts');
      var changes = [];
      var rows = data.items.map(function (r) {
        if (seen[r.name] && seen[r.name] !== r.phase + weights(r)) changes.push(r.name + ': ' + r.phase + ', weights ' + weights(r));
        seen[r.name] = r.phase + weights(r);
        return [el('a', { href: '/rollouts/' + encodeURIComponent(r.name) }, [r.name]), phase(r.phase), r.step ? r.step.label + ' (' + r.step.weight + ' %)' : '-', weights(r),
          ready(r, 'stable'), ready(r, 'candidate'), version(r.stable), version(r.candidate), r.failure ? r.failure.reason + ': ' + r.failure.message : r.message];
      });
      region.replaceChildren(rows.length === 0 ? el('p', {}, ['No ModelRollouts in namespace ' + ns + '.']) :
        table('Rollouts (' + rows.length + ')', ['Name', 'Phase', 'Step', 'Weights % (stable / candidate)', 'Ready stable', 'Ready candidate', 'Stable', 'Candidate', 'Message'], rows,
          ['name', 'phase', 'step', 'weights', 'ready-stable', 'ready-candidate', 'stable', 'candidate', 'message']));
      announce(changes.join('; '));
      stamp(data.time);
    });
  }

  function detailPage(name) {
    document.title = name + ' — ModelRollout';
    var facts = el('section', { 'aria-labelledby': 'h-status' });
    var controls = el('section', { 'aria-labelledby': 'h-controls' });
    var timeline = el('section', { 'aria-labelledby': 'h-timeline' });
    var analysis = el('section', { 'aria-labelledby': 'h-analysis' });
    var experiment = el('section', { 'aria-labelledby': 'h-experiment' });
    var events = el('section', { 'aria-labelledby': 'h-events' });
    main.replaceChildren(el('p', {}, [el('a', { href: '/' }, ['← all rollouts'])]), el('h1', {}, ['ModelRollout ' + name]), facts, controls, timeline, analysis, experiment, events);
    var points = [];
    var last = '';
    var refresh = poll(async function () {
      var data = await getJson('/api/rollouts/' + encodeURIComponent(name));
      var r = data.rollout;
      if (points.length === 0) seed(points, r.history);
      points.push({ t: Date.parse(data.time), stable: r.weights ? r.weights.stable : undefined, candidate: r.weights ? r.weights.candidate : undefined,
        readyStable: r.replicas ? r.replicas.stable.ready : undefined, readyCandidate: r.replicas ? r.replicas.candidate.ready : undefined });
      if (points.length > 2000) points.splice(0, points.length - 2000);
      renderFacts(facts, r);
      if (write && controls.childElementCount === 0) renderControls(controls, name, function () { refresh(); });
      renderTimeline(timeline, points);
      renderAnalysis(analysis, r);
      renderExperiment(experiment, r.experiment);
      renderEvents(events, r);
      var now = r.phase + ', weights ' + weights(r);
      if (last && now !== last) announce(name + ' is now ' + now);
      last = now;
      stamp(data.time);
    });
  }

  function seed(points, history) {
    (history || []).forEach(function (h) {
      if (typeof h.weight === 'number') points.push({ t: Date.parse(h.time), candidate: h.weight, stable: 100 - h.weight });
    });
  }

  function renderFacts(section, r) {
    var rows = [
      ['Phase', phase(r.phase)], ['Message', r.message || '-'], ['Step', r.step ? r.step.label + ' at ' + r.step.weight + ' % (plan: ' + (r.steps.join(' → ') || '-') + ' %)' : '-'],
      ['Weights %', r.weights ? 'stable ' + r.weights.stable + ' / candidate ' + r.weights.candidate + (r.weights.mirrorPercent ? ', mirror ' + r.weights.mirrorPercent : '') : '-'],
      ['Ready replicas', 'stable ' + ready(r, 'stable') + ', candidate ' + ready(r, 'candidate')],
      ['Stable', version(r.stable)], ['Candidate', version(r.candidate)],
    ];
    if (r.failure) rows.push(['Failure', r.failure.reason + ': ' + r.failure.message + ' (' + r.failure.at + ')']);
    r.deployments.forEach(function (d) { rows.push(['Deployment (' + d.role + ')', (d.name || 'none') + ': ' + d.ready + '/' + d.desired + ' ready']); });
    var dl = el('dl', { class: 'facts' });
    rows.forEach(function (row) { dl.append(el('dt', {}, [row[0]]), el('dd', { 'data-field': row[0].toLowerCase().replace(/[^a-z]+/g, '-').replace(/-$/, '') }, [cell(row[1])])); });
    section.replaceChildren(el('h2', { id: 'h-status' }, ['Status']), dl);
  }

  function renderControls(section, name, after) {
    var actions = [['pause', 'Pause', 'hold weights and replicas where they are'], ['resume', 'Resume', 'undo pause; pass a manual gate or an analysis pause'],
      ['promote', 'Promote', 'skip the rest of the current step'], ['abort', 'Abort', 'send all traffic back to stable now'], ['retry', 'Retry', 'start a rolled-back or aborted candidate again']];
    var box = el('div', { class: 'controls', role: 'group', 'aria-labelledby': 'h-controls' });
    var buttons = actions.map(function (a) {
      var b = el('button', { type: 'button', 'data-action': a[0], title: a[2], class: a[0] === 'abort' ? 'danger' : '' }, [a[1]]);
      b.addEventListener('click', async function () {
        if (a[0] === 'abort' && !window.confirm('Abort ' + name + ' and send all traffic back to stable?')) return;
        buttons.forEach(function (x) { x.disabled = true; });
        try {
          var res = await getJson('/api/rollouts/' + encodeURIComponent(name) + '/' + a[0], { method: 'POST', headers: { accept: 'application/json', 'x-modelrollout-token': token } });
          announce(res.message); setError('');
        } catch (e) { setError(a[1] + ' failed: ' + (e && e.message || e)); }
        buttons.forEach(function (x) { x.disabled = false; });
        after();
      });
      return b;
    });
    buttons.forEach(function (b) { box.append(b); });
    section.replaceChildren(el('h2', { id: 'h-controls' }, ['Controls']), el('p', { class: 'note' }, ['Each writes the same annotation as kubectl modelrollout <control>.']), box);
  }

  function chart(title, series, yMax, unit) {
    var W = 640, H = 200, L = 44, R = 12, T = 12, B = 28;
    var pts = series.reduce(function (a, s) { return a.concat(s.points); }, []);
    var t0 = Math.min.apply(null, pts.map(function (p) { return p[0]; }));
    var t1 = Math.max.apply(null, pts.map(function (p) { return p[0]; }));
    if (!(t1 > t0)) t1 = t0 + 1000;
    var x = function (t) { return L + (t - t0) / (t1 - t0) * (W - L - R); };
    var y = function (v) { return T + (1 - v / yMax) * (H - T - B); };
    var desc = series.map(function (s) { var p = s.points[s.points.length - 1]; return s.label + ' ' + (p ? p[1] + unit : 'none'); }).join(', ');
    var id = 'c' + Math.random().toString(36).slice(2);
    var g = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-labelledby': id + 't ' + id + 'd' },
      [svg('title', { id: id + 't' }, [title]), svg('desc', { id: id + 'd' }, ['Latest: ' + desc])]);
    var ticks = [0, 0.25, 0.5, 0.75, 1].map(function (f) { return Math.round(yMax * f); }).filter(function (v, i, all) { return all.indexOf(v) === i; });
    ticks.forEach(function (v) {
      g.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#ccc' }), svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, [v + unit]));
    });
    g.append(svg('text', { x: L, y: H - 8 }, [time(t0)]), svg('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, [time(t1)]));
    series.forEach(function (s) {
      if (s.points.length === 0) return;
      // Steps, not slopes: a value holds until the next reading, and the last one to the chart's end.
      var d = 'M' + x(s.points[0][0]).toFixed(1) + ' ' + y(s.points[0][1]).toFixed(1) + s.points.slice(1).map(function (p) { return ' H' + x(p[0]).toFixed(1) + ' V' + y(p[1]).toFixed(1); }).join('') + ' H' + x(t1).toFixed(1);
      g.append(svg('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': 2.5, 'stroke-dasharray': s.dash || '' }));
    });
    return el('figure', {}, [el('figcaption', {}, [title]), g]);
  }
  function legend() {
    return el('div', { class: 'legend', 'aria-hidden': 'true' }, [el('span', {}, [el('span', { class: 'swatch stable' }), 'stable (solid)']), el('span', {}, [el('span', { class: 'swatch candidate' }), 'candidate (dashed)'])]);
  }
  function seriesOf(points, key) { return points.filter(function (p) { return typeof p[key] === 'number'; }).map(function (p) { return [p.t, p[key]]; }); }

  function renderTimeline(section, points) {
    var maxReady = Math.max(1, Math.max.apply(null, points.map(function (p) { return Math.max(p.readyStable || 0, p.readyCandidate || 0); })));
    section.replaceChildren(el('h2', { id: 'h-timeline' }, ['Timeline']),
      chart('Traffic weight over time (%)', [{ label: 'stable', color: '#1d4e89', points: seriesOf(points, 'stable') }, { label: 'candidate', color: '#a33b00', dash: '6 4', points: seriesOf(points, 'candidate') }], 100, ' %'),
      chart('Ready replicas over time', [{ label: 'stable', color: '#1d4e89', points: seriesOf(points, 'readyStable') }, { label: 'candidate', color: '#a33b00', dash: '6 4', points: seriesOf(points, 'readyCandidate') }], maxReady, ''),
      legend());
  }

  function renderAnalysis(section, r) {
    var parts = [el('h2', { id: 'h-analysis' }, ['Analysis'])];
    if (r.metrics.length === 0) parts.push(el('p', {}, ['No measurements (no analysis, or none yet for this candidate).']));
    else parts.push(table('Latest measurement of each metric against its bounds', ['Metric', 'Check', 'Verdict', 'Candidate', 'Stable', 'Bounds', 'Samples', 'Trend', 'Measured', 'Message'],
      r.metrics.map(function (m) {
        var trend = r.metricHistory.filter(function (h) { return h.name === m.name && h.kind === m.kind && typeof h.value === 'number'; });
        return [m.name, m.kind, el('span', { class: 'verdict-' + m.verdict }, [m.verdict]), m.value === undefined ? (m.raw || '-') : fmt(m.value), fmt(m.baseline), m.bounds,
          m.samples === undefined ? '-' : m.samples, sparkline(m.name, trend), time(m.time), m.message];
      }), ['metric', 'check', 'verdict', 'num', 'num', 'bounds', 'num', 'trend', 'time', 'message']));
    parts.push(el('p', {}, ['Breaker: ' + (r.breaches.length === 0 ? 'closed' : r.breaches.map(function (b) { return b.metric + ' breaching since ' + time(b.since); }).join('; '))]));
    if (r.history.length > 0) parts.push(table('Phase changes (verdicts and controls)', ['Time', 'Phase', 'Reason', 'Weight %', 'Message'],
      r.history.slice(-12).map(function (h) { return [time(h.time), phase(h.phase), h.reason, h.weight === undefined ? '-' : h.weight, h.message]; }), ['time', 'phase', 'reason', 'num', 'message']));
    section.replaceChildren.apply(section, parts);
  }
  function sparkline(name, trend) {
    if (trend.length < 2) return '-';
    var vals = trend.map(function (h) { return h.value; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (!(hi > lo)) hi = lo + 1;
    var d = vals.map(function (v, i) { return (i === 0 ? 'M' : 'L') + (2 + i * 96 / (vals.length - 1)).toFixed(1) + ' ' + (22 - (v - lo) / (hi - lo) * 20).toFixed(1); }).join(' ');
    return svg('svg', { width: 100, height: 24, viewBox: '0 0 100 24', role: 'img', 'aria-label': name + ': ' + vals.length + ' measurements from ' + fmt(vals[0]) + ' to ' + fmt(vals[vals.length - 1]) },
      [svg('path', { d: d, fill: 'none', stroke: '#111', 'stroke-width': 1.5 })]);
  }

  function renderExperiment(section, e) {
    if (!e) { section.replaceChildren(); return; }
    var parts = [el('h2', { id: 'h-experiment' }, ['Experiment']),
      el('p', { 'data-field': 'experiment-verdict' }, ['Verdict: ' + (e.verdict || 'no look yet') + (e.reason ? ' — ' + e.reason : '')])];
    if (e.units) parts.push(el('p', {}, ['Units: control ' + fmt(e.units.control) + ', treatment ' + fmt(e.units.treatment) + (e.srmP === undefined ? '' : ', SRM p ' + fmt(e.srmP))]));
    if (e.metrics && e.metrics.length > 0) parts.push(table('Effect per metric (treatment − control) with its confidence sequence', ['Metric', 'Role', 'Control', 'Treatment', 'Effect', 'Confidence sequence', 'p (always valid)', 'Power'],
      e.metrics.map(function (m) { return [m.name, m.role, fmt(m.control), fmt(m.treatment), fmt(m.effect), '[' + fmt(m.cs[0]) + ', ' + fmt(m.cs[1]) + ']', fmt(m.p), m.power === undefined ? '-' : Math.round(m.power * 100) + ' %']; }),
      ['metric', 'role', 'num', 'num', 'num', 'cs', 'num', 'num']));
    if (e.expectedTimeToDecision) parts.push(el('p', {}, ['Expected time to a decision at this traffic: ' + e.expectedTimeToDecision]));
    if (e.error) parts.push(el('p', { class: 'verdict-error' }, ['Last look failed: ' + e.error]));
    section.replaceChildren.apply(section, parts);
  }

  function renderEvents(section, r) {
    section.replaceChildren(el('h2', { id: 'h-events' }, ['Events']), r.events.length === 0 ? el('p', {}, ['No events.']) :
      table('Last ' + r.events.length + ' events', ['Time', 'Type', 'Reason', 'Message'], r.events.map(function (e) { return [time(e.time), e.type, e.reason, e.message]; }), ['time', 'type', 'reason', 'message']));
  }
})();
`;
