// One run: its version, a Gantt-like timeline (one bar per attempt), each
// step's attempts with masked input, output and error, its event; retry
// (original, latest, from a step) and redeliver for operate sessions.
import { get, post, mayOperate, el, time, duration, statusBadge, json, errorBox } from './api.js';

const POLL_MS = 2000;
const ms = (iso) => (iso ? new Date(iso).getTime() : null);

function timeline(run, steps) {
  const attempts = [];
  for (const s of steps) for (const a of s.attempts || []) attempts.push({ step: s.id, ...a });
  if (!attempts.length) return el('p', { class: 'muted' }, 'No attempts yet.');
  const now = Date.now();
  const starts = attempts.map((a) => ms(a.started_at)).filter((x) => x !== null);
  const t0 = Math.min(ms(run.started_at) ?? Infinity, ...starts);
  const t1 = Math.max(ms(run.finished_at) ?? 0, ...attempts.map((a) => ms(a.finished_at) ?? (a.started_at ? now : 0)));
  const span = Math.max(t1 - t0, 1);
  const rows = attempts.map((a) => {
    const s = ms(a.started_at) ?? t0;
    const e = ms(a.finished_at) ?? now;
    const left = ((s - t0) / span) * 100;
    const width = Math.max(((e - s) / span) * 100, 0.6);
    const bar = el('div', { class: `bar b-${a.status}`, title: `${a.step} #${a.attempt}: ${a.status}, ${duration(e - s)} from +${duration(s - t0)}` });
    bar.style.left = `${Math.min(left, 99.4)}%`;
    bar.style.width = `${Math.min(width, 100 - Math.min(left, 99.4))}%`;
    return el('li', { class: 'tl-row' },
      el('span', { class: 'tl-label' }, el('a', { href: `#step-${a.step}`, 'data-step': a.step }, a.step),
        el('span', { class: 'muted' }, a.item !== null && a.item !== undefined ? ` [${a.item}]` : '', ` #${a.attempt}`, a.round ? ` · retry ${a.round}` : '')),
      el('span', { class: 'tl-track' }, bar),
      el('span', { class: 'tl-dur muted' }, `${duration(e - s)}`));
  });
  return el('div', { class: 'timeline' },
    el('ol', { class: 'tl', 'aria-label': 'Attempts on a time axis' }, rows),
    el('p', { class: 'tl-axis muted' }, el('span', {}, '0'), el('span', {}, duration(span))));
}

function stepBlock(s) {
  return el('section', { class: 'step', id: `step-${s.id}`, 'data-step': s.id },
    el('h3', {}, s.id, ' ', statusBadge(s.status)),
    s.error ? el('div', { class: 'step-error' }, el('strong', {}, 'Error '), json(s.error)) : null,
    (s.attempts || []).map((a) => el('details', { class: 'attempt', open: a.status === 'failed' ? true : null },
      el('summary', {}, `Attempt ${a.attempt}${a.round ? ` (retry ${a.round})` : ''}${a.item !== null && a.item !== undefined ? ` item ${a.item}` : ''} `, statusBadge(a.status), el('span', { class: 'muted' }, ` ${time(a.started_at)} · ${duration(ms(a.finished_at) - ms(a.started_at))}`)),
      el('div', { class: 'io' },
        el('div', {}, el('h4', {}, 'Input'), json(a.input)),
        el('div', {}, el('h4', {}, 'Output'), json(a.output)),
        a.error ? el('div', {}, el('h4', {}, 'Error'), json(a.error)) : null))));
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
      el('h2', {}, 'Steps'), d.steps.map(stepBlock),
      el('h2', {}, 'Event'), el('details', { class: 'attempt' }, el('summary', {}, 'The event (headers without credentials; secrets masked)'), json(d.event))));
    return r.status === 'queued' || r.status === 'running';
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const d = await get(`/api/runs/${encodeURIComponent(id)}`);
      if (stopped) return;
      const busy = render(d);
      if (busy) timer = setTimeout(refresh, POLL_MS);
    } catch (e) {
      if (!stopped) body.replaceChildren(errorBox(e));
    }
  }
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
