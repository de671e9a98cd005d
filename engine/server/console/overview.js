// Overview: the figures of /metrics (GET /api/overview, the same counters
// and histograms) sampled every few seconds in the browser while the console
// is open, drawn as small inline SVG charts: events per minute, runs by
// status, backlog, retries per minute, p50/p99 step latency.
import { get, el, svg, errorBox } from './api.js';

export const SAMPLE_MS = 3000;
const KEEP = 120; // samples kept: 6 minutes at 3 s
const samples = [];
let sampler = null;
const listeners = new Set();

async function sample() {
  try {
    const s = await get('/api/overview');
    s.t = Date.now();
    samples.push(s);
    if (samples.length > KEEP) samples.shift();
    listeners.forEach((f) => f());
  } catch (e) {
    listeners.forEach((f) => f(e));
  }
}

// Started once by app.js: the history is there when the page is opened.
export function startSampling() {
  if (sampler) return;
  sample();
  sampler = setInterval(sample, SAMPLE_MS);
}

const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);

// The latency below which a fraction p of the observations fall, from
// cumulative buckets [[le_ms, count]] (linear inside the bucket, as
// Prometheus' histogram_quantile does).
export function quantile(buckets, count, p) {
  if (!count) return null;
  const rank = p * count;
  let prevLe = 0, prevN = 0;
  for (const [le, n] of buckets) {
    if (n >= rank) return prevLe + (le - prevLe) * ((rank - prevN) / Math.max(n - prevN, 1));
    prevLe = le; prevN = n;
  }
  return buckets.length ? buckets[buckets.length - 1][0] : null;
}

// Per-interval series from consecutive samples.
function series() {
  const out = { t: [], events: [], retries: [], queued: [], running: [], p50: [], p99: [] };
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i], prev = samples[i - 1];
    out.t.push(s.t);
    out.queued.push(s.backlog.queued);
    out.running.push(s.backlog.running);
    if (!prev) { out.events.push(null); out.retries.push(null); out.p50.push(null); out.p99.push(null); continue; }
    const mins = (s.t - prev.t) / 60000 || 1;
    out.events.push(Math.max(0, sum(s.events) - sum(prev.events)) / mins);
    out.retries.push(Math.max(0, s.retries - prev.retries) / mins);
    const n = s.step_latency.count - prev.step_latency.count;
    const delta = s.step_latency.buckets.map(([le, c], k) => [le, c - (prev.step_latency.buckets[k] ? prev.step_latency.buckets[k][1] : 0)]);
    out.p50.push(n > 0 ? quantile(delta, n, 0.5) : null);
    out.p99.push(n > 0 ? quantile(delta, n, 0.99) : null);
  }
  return out;
}

const W = 320, H = 90;

function chart(id, title, lines, unit) {
  const all = lines.flatMap((l) => l.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...all);
  const n = Math.max(2, ...lines.map((l) => l.values.length));
  const x = (i) => 4 + (i / (n - 1)) * (W - 8);
  const y = (v) => H - 14 - (v / max) * (H - 24);
  const paths = lines.map((l) => {
    let d = '';
    l.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d && l.values[i - 1] !== null && l.values[i - 1] !== undefined ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
    });
    return svg('path', { d: d || 'M0,0', class: `line ${l.cls}` });
  });
  const fmt = (v) => (v === null || v === undefined ? '—' : v >= 100 ? Math.round(v) : Math.round(v * 10) / 10);
  const now = lines.map((l) => el('span', { class: `legend-item ${l.cls}`, 'data-now': l.key }, `${l.label} ${fmt(l.values[l.values.length - 1])}${unit}`));
  return el('figure', { class: 'chart', id },
    el('figcaption', {}, el('strong', {}, title), el('span', { class: 'chart-now' }, now)),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', height: H, role: 'img', 'aria-label': `${title}: ${now.map((s) => s.textContent).join(', ')}`, preserveAspectRatio: 'none' },
      svg('line', { x1: 0, x2: W, y1: H - 14, y2: H - 14, class: 'axis' }),
      svg('text', { x: 4, y: 10, class: 'tick' }, `${fmt(max)}${unit}`),
      svg('text', { x: 4, y: H - 2, class: 'tick' }, `${Math.round(((n - 1) * SAMPLE_MS) / 1000)} s ago`),
      svg('text', { x: W - 4, y: H - 2, class: 'tick', 'text-anchor': 'end' }, 'now'),
      paths));
}

function statusBars(runs) {
  const total = Math.max(1, sum(runs));
  return el('figure', { class: 'chart', id: 'chart-runs' },
    el('figcaption', {}, el('strong', {}, 'Runs by status (in the store)')),
    el('ul', { class: 'bars' }, ['queued', 'running', 'succeeded', 'failed'].map((s) => {
      const bar = el('span', { class: `hbar b-${s}` });
      bar.style.width = `${Math.max(((runs[s] || 0) / total) * 100, (runs[s] || 0) ? 1 : 0)}%`;
      return el('li', { 'data-status': s },
        el('a', { href: `#/runs?status=${s}`, class: 'bar-label' }, s),
        el('span', { class: 'bar-track' }, bar),
        el('span', { class: 'bar-n', 'data-count': s }, String(runs[s] || 0)));
    })));
}

export function overviewPage(main) {
  const msg = el('div');
  const grid = el('div', { class: 'charts', 'aria-live': 'off' });
  const facts = el('dl', { class: 'facts', id: 'overview-facts' });
  main.append(el('div', { class: 'page-head' }, el('h1', {}, 'Overview'),
    el('p', { class: 'live muted' }, `Sampled every ${SAMPLE_MS / 1000} s from GET /api/overview (the figures of /metrics) while the console is open.`)),
  msg, facts, grid);
  function render(err) {
    if (err) { msg.replaceChildren(errorBox(err)); return; }
    msg.replaceChildren();
    const last = samples[samples.length - 1];
    if (!last) { grid.replaceChildren(el('p', { class: 'muted' }, 'Waiting for the first sample…')); return; }
    const s = series();
    const lifetime = quantile(last.step_latency.buckets, last.step_latency.count, 0.5);
    const lifetime99 = quantile(last.step_latency.buckets, last.step_latency.count, 0.99);
    const f = (v) => (v === null ? '—' : `${Math.round(v * 10) / 10} ms`);
    facts.replaceChildren(
      el('div', {}, el('dt', {}, 'Events since start'), el('dd', { 'data-fig': 'events' }, String(sum(last.events)))),
      el('div', {}, el('dt', {}, 'Accepted'), el('dd', { 'data-fig': 'accepted' }, String(last.events.accepted || 0))),
      el('div', {}, el('dt', {}, 'Backlog (queued)'), el('dd', { 'data-fig': 'queued' }, String(last.backlog.queued))),
      el('div', {}, el('dt', {}, 'Running'), el('dd', { 'data-fig': 'running' }, String(last.backlog.running))),
      el('div', {}, el('dt', {}, 'Step retries since start'), el('dd', { 'data-fig': 'retries' }, String(last.retries))),
      el('div', {}, el('dt', {}, 'Step attempts since start'), el('dd', { 'data-fig': 'attempts' }, String(last.step_latency.count))),
      el('div', {}, el('dt', {}, 'Step p50 / p99 since start'), el('dd', { 'data-fig': 'latency' }, `${f(lifetime)} / ${f(lifetime99)}`)));
    grid.replaceChildren(
      chart('chart-events', 'Events per minute', [{ key: 'events', label: 'now', cls: 'c1', values: s.events }], '/min'),
      statusBars(last.runs),
      chart('chart-backlog', 'Backlog', [{ key: 'queued', label: 'queued', cls: 'c1', values: s.queued }, { key: 'running', label: 'running', cls: 'c2', values: s.running }], ''),
      chart('chart-retries', 'Step retries per minute', [{ key: 'retries', label: 'now', cls: 'c3', values: s.retries }], '/min'),
      chart('chart-latency', 'Step latency (per sample)', [{ key: 'p50', label: 'p50', cls: 'c1', values: s.p50 }, { key: 'p99', label: 'p99', cls: 'c3', values: s.p99 }], ' ms'));
  }
  listeners.add(render);
  render();
  startSampling();
  return () => listeners.delete(render);
}
