// One run: its version, a Gantt-like timeline (one bar per attempt), each
// step's attempts with masked input, output and error, its event; retry
// (original, latest, from a step) and redeliver for operate sessions.
import { get, post, mayOperate, el, time, duration, statusBadge, json, errorBox } from './api.js';

const POLL_MS = 2000;
const ms = (iso) => (iso ? new Date(iso).getTime() : null);

// Long runs (hundreds of steps, thousands of attempts) are written as one
// HTML string each for the timeline and the steps (the browser's parser
// builds them far faster than one DOM call per node), every value escaped;
// bar positions are set through the CSSOM afterwards (the CSP allows no
// inline style attribute).
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
const badge = (status) => `<span class="status s-${esc(status)}">${esc(status)}</span>`;
const CHUNK = 100; // timeline rows per list: whole lists off screen are skipped by layout

function timeline(run, steps) {
  const attempts = [];
  for (const s of steps) for (const a of s.attempts || []) attempts.push({ step: s.id, ...a });
  if (!attempts.length) return el('p', { class: 'muted' }, 'No attempts yet.');
  const now = Date.now();
  let t0 = ms(run.started_at) ?? Infinity;
  let t1 = ms(run.finished_at) ?? 0;
  for (const a of attempts) {
    const st = ms(a.started_at);
    if (st !== null && st < t0) t0 = st;
    const e = ms(a.finished_at) ?? (a.started_at ? now : 0);
    if (e > t1) t1 = e;
  }
  const span = Math.max(t1 - t0, 1);
  const places = [];
  let html = '';
  attempts.forEach((a, i) => {
    const s = ms(a.started_at) ?? t0;
    const e = ms(a.finished_at) ?? now;
    const left = Math.min(((s - t0) / span) * 100, 99.4);
    places.push([left, Math.min(Math.max(((e - s) / span) * 100, 0.6), 100 - left)]);
    if (i % CHUNK === 0) html += `${i ? '</ol>' : ''}<ol class="tl" start="${i + 1}">`;
    const item = a.item !== null && a.item !== undefined ? ` [${esc(a.item)}]` : '';
    html += `<li class="tl-row"><span class="tl-label"><a href="#step-${esc(a.step)}" data-step="${esc(a.step)}">${esc(a.step)}</a>`
      + `<span class="muted">${item} #${esc(a.attempt)}${a.round ? ` · retry ${esc(a.round)}` : ''}</span></span>`
      + `<span class="tl-track"><span class="bar b-${esc(a.status)}" title="${esc(`${a.step} #${a.attempt}: ${a.status}, ${duration(e - s)} from +${duration(s - t0)}`)}"></span></span>`
      + `<span class="tl-dur muted">${esc(duration(e - s))}</span></li>`;
  });
  html += '</ol>';
  const lists = el('div', { class: 'tl-lists', role: 'group', 'aria-label': 'Attempts on a time axis' });
  lists.innerHTML = html;
  lists.querySelectorAll('.bar').forEach((bar, i) => {
    bar.style.left = `${places[i][0]}%`;
    bar.style.width = `${places[i][1]}%`;
  });
  return el('div', { class: 'timeline' }, lists,
    el('p', { class: 'tl-axis muted' }, el('span', {}, '0'), el('span', {}, duration(span))));
}

// An attempt's input, output and error are built when its <details> is first
// opened (a run of 1,000 attempts renders without 3,000 JSON blocks); the last
// attempt of a failed step starts open.
function attemptBody(a) {
  return el('div', { class: 'io' },
    el('div', {}, el('h4', {}, 'Input'), json(a.input)),
    el('div', {}, el('h4', {}, 'Output'), json(a.output)),
    a.error ? el('div', {}, el('h4', {}, 'Error'), json(a.error)) : null);
}

function stepsBlock(steps) {
  let html = '';
  steps.forEach((s, si) => {
    const attempts = s.attempts || [];
    html += `<section class="step" id="step-${esc(s.id)}" data-step="${esc(s.id)}"><h3>${esc(s.id)} ${badge(s.status)}</h3>`;
    if (s.error) html += `<div class="step-error"><strong>Error </strong><pre class="json">${esc(JSON.stringify(s.error, null, 2))}</pre></div>`;
    attempts.forEach((a, ai) => {
      const open = a.status === 'failed' && ai === attempts.length - 1 && s.status === 'failed';
      const item = a.item !== null && a.item !== undefined ? ` item ${esc(a.item)}` : '';
      html += `<details class="attempt" data-k="${si}:${ai}"${open ? ' open' : ''}><summary>Attempt ${esc(a.attempt)}${a.round ? ` (retry ${esc(a.round)})` : ''}${item} ${badge(a.status)}`
        + `<span class="muted"> ${esc(time(a.started_at))} · ${esc(duration(ms(a.finished_at) - ms(a.started_at)))}</span></summary></details>`;
    });
    html += '</section>';
  });
  const box = el('div', { class: 'steps' });
  box.innerHTML = html;
  const build = (d) => {
    if (!d.open || d.dataset.built) return;
    d.dataset.built = '1';
    const [si, ai] = d.dataset.k.split(':').map(Number);
    d.append(attemptBody(steps[si].attempts[ai]));
  };
  box.addEventListener('toggle', (e) => { if (e.target.matches && e.target.matches('details[data-k]')) build(e.target); }, true);
  box.querySelectorAll('details[open]').forEach(build);
  return box;
}

export function runPage(main, id) {
  let stopped = false;
  let timer = null;
  const head = el('div');
  const actions = el('div');
  const answer = el('div', { id: 'action-answer', 'aria-live': 'polite' });
  const body = el('div');
  main.append(el('p', {}, el('a', { href: '#/runs' }, '← Runs')), head, actions, answer, body);
  let builtActions = false;

  function buildActions(d) {
    if (builtActions || !mayOperate()) return;
    builtActions = true;
    const version = el('select', { id: 'retry-version' }, el('option', { value: 'original' }, 'the version it ran on'), el('option', { value: 'latest' }, 'the latest version'));
    const from = el('select', { id: 'retry-from' }, el('option', { value: '' }, 'failed steps (and what follows)'),
      d.steps.map((s) => el('option', { value: s.id }, `step ${s.id} and downstream`)));
    const retry = el('button', { type: 'submit', class: 'primary', id: 'retry' }, 'Retry');
    const redeliver = el('button', { type: 'button', id: 'redeliver' }, 'Redeliver the event');
    const form = el('form', { class: 'actions-box', onsubmit: async (e) => {
      e.preventDefault();
      retry.disabled = true;
      const q = new URLSearchParams({ version: version.value });
      if (from.value) q.set('from', from.value);
      try {
        const a = await post(`/api/runs/${encodeURIComponent(id)}/retry?${q}`);
        answer.replaceChildren(el('div', { class: 'notice ok', id: 'retry-answer' },
          el('strong', {}, `Retry queued on the ${a.version_used} version. `),
          el('span', {}, 'Re-run: '), el('span', { id: 'rerun', class: 'mono' }, (a.rerun || []).join(', ') || '—'),
          el('span', {}, ' · reused: '), el('span', { id: 'reused', class: 'mono' }, (a.reused || []).join(', ') || '—')));
        refresh();
      } catch (err) {
        answer.replaceChildren(errorBox(err));
      } finally { retry.disabled = false; }
    } },
      el('div', { class: 'field' }, el('label', { for: 'retry-version' }, 'Retry on'), version),
      el('div', { class: 'field' }, el('label', { for: 'retry-from' }, 'Re-run'), from),
      el('div', { class: 'field actions' }, retry, redeliver));
    redeliver.addEventListener('click', async () => {
      redeliver.disabled = true;
      try {
        const a = await post(`/api/events/${encodeURIComponent(d.run.event_id)}/redeliver`);
        answer.replaceChildren(el('div', { class: 'notice ok', id: 'redeliver-answer' }, 'Redelivered: new run ',
          a.run_id ? el('a', { href: `#/runs/${encodeURIComponent(a.run_id)}`, class: 'mono' }, a.run_id) : JSON.stringify(a)));
      } catch (err) {
        answer.replaceChildren(errorBox(err));
      } finally { redeliver.disabled = false; }
    });
    actions.replaceChildren(form);
  }

  function render(d) {
    const r = d.run;
    const wf = r.workflow || {};
    head.replaceChildren(el('div', {},
      el('div', { class: 'page-head' }, el('h1', {}, 'Run ', el('span', { class: 'mono', id: 'run-id' }, r.run_id)), el('span', { id: 'run-status' }, statusBadge(r.status))),
      el('dl', { class: 'facts' },
        el('div', {}, el('dt', {}, 'Workflow'), el('dd', {}, el('a', { href: `#/runs?workflow=${encodeURIComponent(wf.workflow_id || '')}` }, wf.workflow_id || '—'))),
        el('div', {}, el('dt', {}, 'Version'), el('dd', { id: 'run-version' }, `v${wf.version ?? '?'} `, el('span', { class: 'mono muted', title: wf.hash || '' }, (wf.hash || '').slice(0, 12)))),
        el('div', {}, el('dt', {}, 'Created'), el('dd', {}, time(r.created_at))),
        el('div', {}, el('dt', {}, 'Duration'), el('dd', {}, duration(ms(r.finished_at) - ms(r.started_at)))),
        el('div', {}, el('dt', {}, 'Retries'), el('dd', {}, String(r.retries ?? 0))),
        el('div', {}, el('dt', {}, 'Event'), el('dd', { class: 'mono' }, r.event_id || '—'))),
      r.error ? el('div', { class: 'run-error', id: 'run-error' }, el('h2', {}, 'Error'), json(r.error)) : null));
    buildActions(d);
    body.replaceChildren(el('div', {},
      el('h2', {}, 'Timeline'), timeline(r, d.steps),
      el('h2', {}, 'Steps'), stepsBlock(d.steps),
      el('h2', {}, 'Event'), el('details', { class: 'attempt' }, el('summary', {}, 'The event (headers without credentials; secrets masked)'), json(d.event))));
    return r.status === 'queued' || r.status === 'running';
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const d = await get(`/api/runs/${encodeURIComponent(id)}`);
      if (stopped) return;
      // For the browser test's timing: data in hand (the rest is the page's rendering).
      performance.mark('reqflow:run-data');
      const busy = render(d);
      if (busy) timer = setTimeout(refresh, POLL_MS);
    } catch (e) {
      if (!stopped) body.replaceChildren(errorBox(e));
    }
  }
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
