// Workflows: the list (trigger, version, validation state, runs in the last
// day) and one workflow's page: its trigger URL, its compiled DAG drawn as
// SVG (layers by longest path, steps coloured by their last status), its
// stored versions with a line diff between two, its validation state (a
// refused change with the source window), its runs by status over a day.
import { get, el, svg, time, errorBox } from './api.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed'];

function counts(id, c) {
  if (!c) return el('span', { class: 'muted' }, '…');
  return el('span', { class: 'counts' }, STATUSES.map((s) => el('a', {
    href: `#/runs?workflow=${encodeURIComponent(id)}&status=${s}`, class: `status s-${s}`, 'data-count': s,
    title: `${c[s] ?? 0} ${s} run(s) created in the last 24 h`,
  }, `${s} ${c[s] ?? 0}`)));
}

function validity(refused) {
  return refused
    ? el('span', { class: 'status s-failed', 'data-valid': 'refused' }, 'change refused')
    : el('span', { class: 'status s-succeeded', 'data-valid': 'ok' }, 'valid');
}

export function workflowsPage(main) {
  const body = el('tbody');
  const msg = el('div');
  const refusedFiles = el('div');
  main.append(el('div', { class: 'page-head' }, el('h1', {}, 'Workflows')), msg,
    el('div', { class: 'table-wrap' }, el('table', { class: 'runs', id: 'workflows-table' },
      el('caption', { class: 'sr-only' }, 'Workflows that serve'),
      el('thead', {}, el('tr', {}, ['Workflow', 'Trigger', 'Version', 'Steps', 'Validation', 'Runs, last 24 h'].map((h) => el('th', { scope: 'col' }, h)))),
      body)), refusedFiles);
  get('/api/workflows').then((w) => {
    const rows = (w.workflows || []).map((x) => {
      const countCell = el('td', { 'data-label': 'Runs, last 24 h' }, counts(x.id, null));
      const trigText = (kind, url) => el('span', {}, el('span', { class: 'muted' }, kind, ' '), url ? el('code', {}, url) : null);
      const trig = el('td', { 'data-label': 'Trigger' }, trigText(x.trigger.kind, x.trigger.route));
      get(`/api/workflows/${encodeURIComponent(x.id)}`).then((d) => {
        countCell.replaceChildren(counts(x.id, d.runs_last_day));
        trig.replaceChildren(trigText(d.trigger.kind, d.trigger.url));
      }).catch((e) => countCell.replaceChildren(errorBox(e)));
      return el('tr', { 'data-workflow': x.id },
        el('td', { 'data-label': 'Workflow' }, el('a', { href: `#/workflows/${encodeURIComponent(x.id)}` }, x.id),
          x.description ? el('div', { class: 'muted small' }, x.description) : null),
        trig,
        el('td', { 'data-label': 'Version' }, el('span', {}, `v${x.version} `, el('span', { class: 'mono muted' }, (x.hash || '').slice(0, 12)))),
        el('td', { 'data-label': 'Steps' }, String((x.steps || []).length + (x.on_failure || []).length)),
        el('td', { 'data-label': 'Validation' }, validity(x.refused)),
        countCell);
    });
    body.replaceChildren(...rows);
    if (!rows.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No workflow serves.')));
    const files = w.refused_files || [];
    if (files.length) {
      refusedFiles.replaceChildren(el('h2', {}, 'Refused files that serve nothing'),
        files.map((f) => el('section', { class: 'step refused', 'data-refused-file': f.file },
          el('h3', {}, el('code', {}, f.file), ' ', el('span', { class: 'status s-failed' }, 'refused'), el('span', { class: 'muted' }, ` ${time(f.refused.at)}`)),
          el('pre', { class: 'json' }, f.refused.source_window || f.refused.diagnostics))));
    }
  }).catch((e) => msg.replaceChildren(errorBox(e)));
  return null;
}

// ---- the DAG

const NODE_W = 168, NODE_H = 46, GAP_X = 56, GAP_Y = 18, PAD = 16, TOP = 44;

// Layers by longest path from the trigger; each layer ordered by the mean
// position of its parents (one barycentre pass), which keeps most edges short.
function layout(steps) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const rank = new Map();
  const visit = (s, stack = new Set()) => {
    if (rank.has(s.id)) return rank.get(s.id);
    if (stack.has(s.id)) return 1; // a cycle cannot compile; be safe anyway
    stack.add(s.id);
    let r = 1;
    for (const n of s.needs) { const p = byId.get(n); if (p) r = Math.max(r, visit(p, stack) + 1); }
    rank.set(s.id, r);
    return r;
  };
  steps.forEach((s) => visit(s));
  const layers = [];
  for (const s of steps) { const r = rank.get(s.id); (layers[r] ||= []).push(s); }
  const pos = new Map();
  layers.forEach((layer, r) => {
    if (!layer) return;
    if (r > 1) {
      const bary = (s) => {
        const ys = s.needs.map((n) => pos.get(n)).filter(Boolean).map((p) => p.i);
        return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0;
      };
      layer.sort((a, b) => bary(a) - bary(b));
    }
    layer.forEach((s, i) => pos.set(s.id, { r, i }));
  });
  return { layers, pos };
}

function nodeBox(x, y, cls, title, label, sub, attrs = {}) {
  const short = (t, n) => (t.length > n ? t.slice(0, n - 1) + '…' : t);
  return svg('g', { class: `node ${cls}`, transform: `translate(${x},${y})`, ...attrs },
    svg('title', {}, title),
    svg('rect', { width: NODE_W, height: NODE_H, rx: 8 }),
    svg('text', { x: 10, y: 19, class: 'n-id' }, short(label, 22)),
    svg('text', { x: 10, y: 36, class: 'n-kind' }, short(sub, 26)));
}

export function drawGraph(d) {
  const main = d.steps.filter((s) => !s.on_failure);
  const fail = d.steps.filter((s) => s.on_failure);
  const { layers, pos } = layout(main);
  const rows = Math.max(1, ...layers.filter(Boolean).map((l) => l.length));
  const failLayout = layout(fail);
  const failRows = fail.length ? Math.max(1, ...failLayout.layers.filter(Boolean).map((l) => l.length)) : 0;
  const cols = Math.max(layers.length, failLayout.layers.length, 1);
  const xy = (p) => [PAD + p.r * (NODE_W + GAP_X), TOP + p.i * (NODE_H + GAP_Y)];
  const mainH = TOP + PAD + rows * (NODE_H + GAP_Y);
  const failTop = mainH + 28;
  const width = PAD * 2 + cols * (NODE_W + GAP_X);
  const height = fail.length ? failTop + PAD + failRows * (NODE_H + GAP_Y) + 8 : mainH;
  const edges = svg('g', { class: 'edges' });
  const nodes = svg('g', { class: 'nodes' });
  const tY = TOP + ((rows - 1) * (NODE_H + GAP_Y)) / 2;
  nodes.append(nodeBox(PAD, tY, 'trigger', `trigger: ${d.trigger.kind}`, d.trigger.kind, d.trigger.route || d.trigger.detail, { 'data-node': 'trigger' }));
  // An edge to the next column is an S-curve; one that skips columns arcs
  // above the rows so that it does not run through the steps between.
  const edge = (x1, y1, x2, y2) => {
    const mx = (x1 + x2) / 2;
    const skips = Math.round((x2 - x1) / (NODE_W + GAP_X));
    const lift = Math.min(y1, y2) - NODE_H / 2 - 8 - 6 * skips;
    const d = skips >= 1
      ? `M${x1},${y1} C${x1 + 40},${lift} ${x2 - 40},${lift} ${x2 - 6},${y2}`
      : `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`;
    edges.append(svg('path', { d }),
      svg('path', { class: 'arrowhead', d: `M${x2 - 7},${y2 - 4} L${x2},${y2} L${x2 - 7},${y2 + 4} z` }));
  };
  const place = (list, p, top) => {
    for (const s of list) {
      const [x, y0] = xy(p.get(s.id));
      const y = y0 + top;
      const status = s.last_status || 'none';
      const flags = [s.kind, s.if ? 'if' : '', s.foreach ? 'foreach' : ''].filter(Boolean).join(' · ');
      const title = `${s.id} (${flags}): ${s.last_status ? `last ${s.last_status} in run ${s.last_run}` : 'no run yet'}`;
      const g = nodeBox(x, y, `g-${status}`, title, s.id, `${flags}${s.last_status ? ' · ' + s.last_status : ''}`,
        { 'data-node': s.id, 'data-status': status, tabindex: 0, role: 'img', 'aria-label': title });
      nodes.append(s.last_run ? svg('a', { href: `#/runs/${encodeURIComponent(s.last_run)}` }, g) : g);
      if (!s.needs.length && !s.on_failure) edge(PAD + NODE_W, tY + NODE_H / 2, x, y + NODE_H / 2);
      for (const n of s.needs) {
        const q = p.get(n);
        if (!q) continue;
        const [px, py] = xy(q);
        edge(px + NODE_W, py + top + NODE_H / 2, x, y + NODE_H / 2);
      }
    }
  };
  place(main, pos, 0);
  const extra = [];
  if (fail.length) {
    extra.push(svg('rect', { class: 'fail-zone', x: 4, y: failTop - 20, width: width - 8, height: height - failTop + 14, rx: 10 }),
      svg('text', { class: 'fail-label', x: 14, y: failTop - 4 }, 'on_failure'));
    place(fail, failLayout.pos, failTop - TOP);
  }
  return svg('svg', { class: 'dag', id: 'dag', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': `The steps of ${d.id} and what each needs` },
    extra, edges, nodes);
}

// ---- the version diff: a line LCS (files are small; capped for safety)

export function lineDiff(a, b) {
  const x = a.split('\n'), y = b.split('\n');
  if (x.length * y.length > 4e6) return [...x.map((t) => ['-', t]), ...y.map((t) => ['+', t])];
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push([' ', x[i]]); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) out.push(['-', x[i++]]);
    else out.push(['+', y[j++]]);
  }
  while (i < n) out.push(['-', x[i++]]);
  while (j < m) out.push(['+', y[j++]]);
  return out;
}

function diffView(lines) {
  const added = lines.filter((l) => l[0] === '+').length, removed = lines.filter((l) => l[0] === '-').length;
  return el('div', {},
    el('p', { class: 'muted', id: 'diff-summary' }, `${added} line(s) added, ${removed} removed`),
    el('pre', { class: 'diff', id: 'diff' }, lines.map(([k, t]) => el('span', { class: k === '+' ? 'add' : k === '-' ? 'del' : 'same' }, `${k} ${t}\n`))));
}

function versionsBlock(id) {
  const box = el('div', { id: 'versions' }, el('p', { class: 'muted' }, 'Loading versions…'));
  get(`/api/workflows/${encodeURIComponent(id)}/versions`).then((v) => {
    const list = v.versions || [];
    const opt = (x) => el('option', { value: x.n }, `#${x.n} · v${x.version} · ${(x.hash || '').slice(0, 10)}${x.serving ? ' (serving)' : ''}`);
    const from = el('select', { id: 'diff-from' }, list.map(opt));
    const to = el('select', { id: 'diff-to' }, list.map(opt));
    from.value = String(Math.max(1, list.length - 1));
    to.value = String(list.length);
    const out = el('div', { 'aria-live': 'polite' });
    const show = async () => {
      try {
        const [a, b] = await Promise.all([from.value, to.value].map((n) => get(`/api/workflows/${encodeURIComponent(id)}/versions/${n}`)));
        out.replaceChildren(diffView(lineDiff(a.source, b.source)));
      } catch (e) { out.replaceChildren(errorBox(e)); }
    };
    const table = el('table', { class: 'runs', id: 'versions-table' },
      el('thead', {}, el('tr', {}, ['#', 'Version', 'Hash', 'Stored', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, list.slice().reverse().map((x) => el('tr', { 'data-n': x.n },
        el('td', { 'data-label': '#' }, String(x.n)),
        el('td', { 'data-label': 'Version' }, `v${x.version}`),
        el('td', { 'data-label': 'Hash', class: 'mono' }, (x.hash || '').slice(0, 16)),
        el('td', { 'data-label': 'Stored' }, time(x.stored_at)),
        el('td', { 'data-label': '' }, x.serving ? el('span', { class: 'status s-succeeded' }, 'serving') : '')))));
    box.replaceChildren(el('div', { class: 'table-wrap' }, table),
      list.length > 1
        ? el('form', { class: 'filters', id: 'diff-form', onsubmit: (e) => { e.preventDefault(); show(); } },
          el('div', { class: 'field' }, el('label', { for: 'diff-from' }, 'From'), from),
          el('div', { class: 'field' }, el('label', { for: 'diff-to' }, 'To'), to),
          el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'primary', id: 'diff-show' }, 'Show the diff')))
        : el('p', { class: 'muted' }, 'One version stored: nothing to compare yet.'),
      out);
    if (list.length > 1) show();
  }).catch((e) => box.replaceChildren(errorBox(e)));
  return box;
}

export function workflowPage(main, id) {
  const msg = el('div');
  main.append(el('p', {}, el('a', { href: '#/workflows' }, '← Workflows')), msg);
  get(`/api/workflows/${encodeURIComponent(id)}`).then((d) => {
    const t = d.trigger;
    main.append(...[
      el('div', { class: 'page-head' }, el('h1', {}, 'Workflow ', el('span', { class: 'mono', id: 'wf-id' }, d.id)), validity(d.refused)),
      d.description ? el('p', { class: 'muted' }, d.description) : null,
      el('dl', { class: 'facts' },
        el('div', {}, el('dt', {}, 'Trigger'), el('dd', {}, `${t.kind} · ${t.detail}`)),
        el('div', { class: 'wide' }, el('dt', {}, t.absolute ? 'URL to give the vendor' : 'Path on the public listener'),
          el('dd', {}, t.url ? el('code', { id: 'trigger-url' }, t.url) : el('span', { class: 'muted', id: 'trigger-url' }, 'none: not triggered over HTTP'))),
        el('div', {}, el('dt', {}, 'Version'), el('dd', { id: 'wf-version' }, `v${d.version} `, el('span', { class: 'mono muted' }, (d.hash || '').slice(0, 12)))),
        el('div', {}, el('dt', {}, 'File'), el('dd', { class: 'mono' }, d.file || '—'))),
      el('h2', {}, 'Runs in the last 24 h'), el('div', { id: 'wf-counts' }, counts(d.id, d.runs_last_day)),
      el('h2', {}, 'Validation'),
      d.refused
        ? el('div', { class: 'run-error', id: 'wf-refused' },
          el('p', {}, `The last change of ${d.file} was refused at ${time(d.refused.at)}; v${d.version} keeps serving.`),
          el('pre', { class: 'json window' }, d.refused.source_window || d.refused.diagnostics))
        : el('p', { id: 'wf-valid' }, `The file serves as loaded (v${d.version}): no refused change.`),
      el('h2', {}, 'Graph'),
      el('p', { class: 'muted small legend' }, 'Steps coloured by their status in the newest run that reached them (of the last ', String(d.last_runs_read), ' runs): ',
        ['succeeded', 'failed', 'skipped', 'none'].map((s) => el('span', { class: `legend-item g-${s}` }, s === 'none' ? 'not run' : s))),
      el('div', { class: 'graph-wrap', tabindex: 0, 'aria-label': 'Graph (scrolls)' }, drawGraph(d)),
      el('h2', {}, 'Versions'), versionsBlock(d.id)].filter(Boolean));
  }).catch((e) => msg.replaceChildren(errorBox(e)));
  return null;
}


